"""Ready-made applications built from the rooms: the question-answering flow behind ``ragloom demo``."""
