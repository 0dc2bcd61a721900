"""Flow metrics are pure functions of a QuestionCase: each scores only what the gold data allows."""

from __future__ import annotations

from ragloom.core.types import Chunk, Hit
from ragloom.eval.datasets import GoldSpan
from ragloom.eval.flow_metrics import (
    DEFAULT_METRICS,
    ContextPassage,
    QuestionCase,
    answer_in_context,
    answer_scores,
    canonical_doc_id,
    citation_scores,
    scores_of,
    span_scores,
    support_scores,
)


def _hit(doc: str, text: str = "x", start: int = 0) -> Hit:
    return Hit(Chunk(text, doc, start, start + len(text)), 1.0)


def _passage(pid: str, doc: str, text: str, start: int = -1, end: int = -1) -> ContextPassage:
    return ContextPassage(pid, doc, text, start, end)


def test_a_question_without_gold_data_gets_no_scores() -> None:
    case = QuestionCase("q", "what?", answer="x", hits=[_hit("d")], citations=["d#0"])
    assert scores_of(case, DEFAULT_METRICS) == {}


def test_answers_em_f1_and_a_missing_answer_scores_zero() -> None:
    case = QuestionCase("q", "who?", answer="The Beatles.", answers=["Beatles", "the fab four"])
    assert answer_scores(case) == {"EM": 1.0, "F1": 1.0}
    assert answer_scores(QuestionCase("q", "who?", answer=None, answers=["Beatles"])) == {
        "EM": 0.0,
        "F1": 0.0,
    }


def test_answer_in_context_is_normalised_and_matches_whole_words_only() -> None:
    context = [
        _passage("1", "d", "Founded in 1962, THE Beatles' label..."),
        _passage("2", "e", "x1000 items"),
    ]
    assert answer_in_context(QuestionCase("q", "", context=context, answers=["Beatles"]))["answer-in-context"]
    assert answer_in_context(QuestionCase("q", "", context=context, answers=["1000"])) == {
        "answer-in-context": 0.0
    }


def test_support_recall_ndcg_and_context_recall_follow_the_order_of_the_hits() -> None:
    hits = [_hit("a"), _hit("a"), _hit("x"), _hit("b")]
    case = QuestionCase(
        "q", "", hits=hits, context=[_passage("a#0", "a", "t")], qrels={"a": 1, "b": 1, "zz": 0}
    )
    scores = support_scores(case)
    assert scores["support-R@2"] == 0.5 and scores["support-R@5"] == 1.0
    assert scores["context-support-R"] == 0.5
    assert 0.0 < scores["nDCG@10"] < 1.0


def test_a_document_named_by_path_in_the_index_matches_a_file_name_in_the_qrels() -> None:
    assert canonical_doc_id("/data/docs-a/files/limits.html", {"limits.html": 1}) == "limits.html"
    assert canonical_doc_id("d1", {"d1": 1}) == "d1"
    case = QuestionCase("q", "", hits=[_hit("files/limits.html")], qrels={"limits.html": 1})
    assert support_scores(case)["support-R@2"] == 1.0


def test_span_hit_needs_the_whole_gold_span_inside_a_chunk() -> None:
    hits = [_hit("d", "0123456789", start=10)]
    spans = [GoldSpan("d", 12, 15)]
    context = [_passage("d#0", "d", "t", 10, 20)]
    case = QuestionCase("q", "", hits=hits, context=context, spans=spans)
    scores = span_scores(case)
    assert scores["span-hit@1"] == 1.0 and scores["context-span-hit"] == 1.0
    outside = QuestionCase("q", "", hits=hits, spans=[GoldSpan("d", 18, 25)])
    assert span_scores(outside)["span-hit@1"] == 0.0


def test_citations_count_right_when_the_passage_holds_the_answer_or_comes_from_a_gold_document() -> None:
    context = [
        _passage("p1", "gold", "nothing useful"),
        _passage("p2", "other", "the answer is 64 tables"),
        _passage("p3", "other", "unrelated"),
    ]
    case = QuestionCase(
        "q", "", context=context, citations=["p1", "p2", "p3", "p9"], answers=["64"], qrels={"gold": 1}
    )
    assert citation_scores(case) == {"citation-correct": 0.5}  # p3 wrong, p9 names nothing the LLM saw
    assert citation_scores(QuestionCase("q", "", context=context, answers=["64"])) == {}


def test_citations_by_location_match_the_passage_at_that_location() -> None:
    from ragloom.core.types import Chunk
    from ragloom.eval.flow_records import context_passages

    meta = {"source": "R-data.pdf", "page": 15, "page_end": 15, "section": "2 > 2.2 Fixed-width-format files"}
    gold = Hit(Chunk("read.fwf reads fixed-width files", "R-data.pdf", 0, 32, meta), 1.0)
    other = Hit(Chunk("scan reads data", "R-intro.pdf", 0, 15, {"source": "R-intro.pdf", "page": 40}), 0.5)
    context = context_passages([gold, other])
    assert context[0].label == "R-data.pdf p. 15, § 2.2 Fixed-width-format files"
    case = QuestionCase(
        "q", "", context=context, citations=[context[0].label, "R-intro.pdf p. 40"], answers=["read.fwf"]
    )
    assert citation_scores(case) == {"citation-correct": 0.5}


def test_answer_at_512_counts_only_the_first_512_budget_tokens_of_the_context() -> None:
    from ragloom.eval.flow_metrics import answer_at_512
    from ragloom.retrieval.select.base import resolve_token_counter

    counter = resolve_token_counter(None)
    filler = "The quick brown fox jumps over the lazy dog. " * 40
    assert counter.count_tokens(filler) > 300  # two fillers are over the 512-token budget
    early = [_passage("a", "d1", "The join limit is 64 tables."), _passage("b", "d2", filler)]
    late = [_passage("b", "d2", filler), _passage("c", "d3", filler), early[0]]
    # answers[0] is the canonical answer; typographic quotes and case are normalised as in docs-a
    case = QuestionCase("q", "limit?", context=early, answers=["64 TABLES", "sixty-four"])
    assert answer_at_512(case) == {"answer@512": 1.0, "answer-early@512": 1.0}
    assert answer_at_512(QuestionCase("q", "limit?", context=late, answers=["64 tables"])) == {
        "answer@512": 0.0,
        "answer-early@512": 0.0,
    }
    assert answer_at_512(QuestionCase("q", "limit?", context=early, answers=["sixty-four", "64"])) == {
        "answer@512": 0.0,  # only answers[0] counts, as in the files harness
        "answer-early@512": 0.0,
    }
    assert answer_at_512(QuestionCase("q", "limit?", context=early)) == {}  # no answers: no score
    assert "answer@512" in scores_of(case, DEFAULT_METRICS)


def test_answer_early_grades_where_in_the_512_tokens_the_answer_comes() -> None:
    from ragloom.eval.flow_metrics import answer_at_512
    from ragloom.retrieval.select.base import resolve_token_counter

    counter = resolve_token_counter(None)
    answer = _passage("a", "d1", "The join limit is 64 tables.")
    words = "The quick brown fox jumps over the lazy dog. " * 15
    filler = _passage("f", "d2", words)
    assert 140 < counter.count_tokens(words) < 190  # one filler: past 128, two: past 256, not past 384

    def early(context: list[ContextPassage]) -> dict[str, float]:
        return answer_at_512(QuestionCase("q", "limit?", context=context, answers=["64 tables"]))

    first, second, third = early([answer, filler]), early([filler, answer]), early([filler, filler, answer])
    assert first == {"answer@512": 1.0, "answer-early@512": 1.0}
    assert second == {"answer@512": 1.0, "answer-early@512": 0.75}  # found at 256, 384, 512
    assert third == {"answer@512": 1.0, "answer-early@512": 0.5}  # found at 384, 512


def test_context_support_credits_a_fragment_with_the_share_of_its_passage_it_keeps() -> None:
    from ragloom.eval.flow_metrics import context_support

    qrels = {"d1": 1, "d2": 1}
    whole = [_passage("a", "d1", "x"), _passage("b", "d3", "y")]
    assert context_support(QuestionCase("q", "", context=whole, qrels=qrels)) == 0.5  # plain recall
    cut = ContextPassage("c", "d2", "one sentence", share=0.25)
    again = ContextPassage("e", "d2", "another one", share=0.25)
    assert context_support(QuestionCase("q", "", context=[*whole, cut], qrels=qrels)) == 0.625
    assert context_support(QuestionCase("q", "", context=[*whole, cut, again], qrels=qrels)) == 0.75
    full = [*whole, ContextPassage("f", "d2", "z", share=0.8), ContextPassage("g", "d2", "w", share=0.8)]
    assert context_support(QuestionCase("q", "", context=full, qrels=qrels)) == 1.0  # capped at the document


def test_a_cut_chunk_passes_its_kept_share_to_the_passage() -> None:
    from ragloom.eval.flow_records import context_passages

    cut = Hit(Chunk("half", "d1", 0, 4, {"kept_share": 0.5}), 1.0)
    passages = context_passages([cut, _hit("d2")])
    assert [p.share for p in passages] == [0.5, 1.0]
