"""BEIR-layout loading: real folders, a folder never seen before, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.core.errors import DatasetError
from ragloom.eval.datasets import DatasetWarning, indexable_documents, load_dataset, split_queries


def _write_folder(
    root: Path,
    corpus: list[str] | None = None,
    queries: list[str] | None = None,
    qrels: str | None = None,
    spans: list[str] | None = None,
) -> Path:
    """A tiny BEIR folder; each argument overrides one file's lines."""
    (root / "qrels").mkdir(parents=True)
    corpus = corpus or [
        json.dumps({"_id": "d1", "title": "Alpha", "text": "alpha beta gamma"}),
        json.dumps({"_id": "d2", "title": "", "text": "delta epsilon"}),
    ]
    queries = queries or [
        json.dumps({"_id": "q1", "text": "beta?"}),
        json.dumps({"_id": "q2", "text": "delta?"}),
        json.dumps({"_id": "q3", "text": "unjudged"}),
    ]
    (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (root / "qrels" / "test.tsv").write_text(qrels or "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n")
    if spans is not None:
        (root / "spans.jsonl").write_text("\n".join(spans) + "\n")
    return root


def test_loads_an_unseen_folder_and_keeps_only_judged_queries(tmp_path: Path) -> None:
    spans = [json.dumps({"_id": "q1", "doc_id": "d1", "start": 6, "end": 10})]
    ds = load_dataset(_write_folder(tmp_path / "mine", spans=spans))
    assert ds.name == "mine" and list(ds.queries) == ["q1", "q2"]
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    span = ds.spans["q1"][0]
    assert ds.corpus["d1"].text[span.start : span.end] == "beta"
    docs = {d.id: d for d in indexable_documents(ds, with_title=True)}
    shifted = docs["d1"].metadata["body_offset"]
    assert docs["d1"].text[span.start + shifted : span.end + shifted] == "beta"
    assert docs["d2"].text == "delta epsilon"  # no title, no prefix


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"corpus": ['{"_id": "d1", "text": "ok"}', '{"_id": "d2", "text": ']},
            "corpus.jsonl:2: invalid JSON",
        ),
        (
            {"corpus": ['{"_id": "d1", "text": "ok"}', '{"_id": "d2"}']},
            "corpus.jsonl:2: missing field 'text'",
        ),
        (
            {"corpus": ['{"_id": "d1", "text": "a"}', '{"_id": "d1", "text": "b"}']},
            "corpus.jsonl:2: duplicate _id",
        ),
        ({"qrels": "q1\td1\t1\nq1 d1 1\n"}, "test.tsv:2: expected 3 tab-separated columns"),
        ({"qrels": "q1\td1\thigh\n"}, "test.tsv:1: score 'high' is not an integer"),
        ({"spans": ['{"_id": "q1", "doc_id": "d1", "start": 5, "end": 99}']}, "spans.jsonl:1: span [5, 99)"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path: Path, override: dict, message: str) -> None:
    folder = _write_folder(tmp_path / "bad", **override)
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace(")", r"\)")):
        load_dataset(folder)


def test_qrels_rows_naming_absent_documents_are_skipped_with_one_counting_warning(tmp_path: Path) -> None:
    """BEIR's ArguAna qrels name 5 documents its corpus lacks: skip them (as BEIR does), warn once."""
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td8\t1\nq2\td9\t1\nq2\td2\t2\n"
    with pytest.warns(DatasetWarning) as caught:
        ds = load_dataset(_write_folder(tmp_path / "arguana-like", qrels=qrels))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 2 qrels rows" in message and "line 3: 'd8'" in message and "line 4: 'd9'" in message
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_a_document_set_without_corpus_loads_when_the_corpus_is_optional(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "files-only")
    (folder / "corpus.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"corpus\.jsonl: missing"):
        load_dataset(folder)
    ds = load_dataset(folder, corpus_optional=True)
    assert ds.corpus == {} and ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_missing_split_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"available qrels splits: \['test'\]"):
        load_dataset(_write_folder(tmp_path / "x"), qrels_split="dev")
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(tmp_path / "nowhere")


def test_split_is_seeded_stable_and_independent_of_other_ids() -> None:
    ids = [f"q{i}" for i in range(1000)]
    dev, test = split_queries(ids)
    assert sorted(dev + test) == sorted(ids) and not set(dev) & set(test)
    assert 250 < len(dev) < 350  # about 30 % dev
    dev_half, _ = split_queries(ids[:500])
    assert dev_half == [q for q in dev if q in set(ids[:500])]  # membership depends only on the id
    assert split_queries(ids, seed=1)[0] != dev


def test_real_datasets_load_with_their_counts(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "hotpotqa-300")
    assert (len(ds.corpus), len(ds.queries), sum(map(len, ds.qrels.values()))) == (2960, 300, 600)
    assert len(ds.answers) == 300
    dev, test = ds.split("dev"), ds.split("test")
    assert len(dev.queries) + len(test.queries) == 300 and dev.limit(5).queries.keys() <= dev.queries.keys()


def test_files_saved_with_a_byte_order_mark_and_crlf_load_like_plain_ones(tmp_path: Path) -> None:
    """Editors on Windows write UTF-8 with a BOM and CRLF; the BOM used to fail corpus.jsonl:1 as invalid
    JSON and qrels' header as "score 'score' is not an integer"."""
    plain = load_dataset(_write_folder(tmp_path / "plain"))
    root = _write_folder(tmp_path / "bom")
    for path in (root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / "test.tsv"):
        text = path.read_text(encoding="utf-8")
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    ds = load_dataset(root)
    assert (ds.corpus, ds.queries, ds.qrels) == (plain.corpus, plain.queries, plain.qrels)


def test_a_byte_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "ds")
    lines = (root / "corpus.jsonl").read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"delta", b"d\xe9lta")  # latin-1 e-acute
    (root / "corpus.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: not UTF-8 text .*column 38"):
        load_dataset(root)
    (root / "corpus.jsonl").write_bytes(b"\n".join(lines).replace(b"d\xe9lta", b"delta"))
    (root / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td\xff2\t2\n")
    with pytest.raises(DatasetError, match=r"test\.tsv:3: not UTF-8 text"):
        load_dataset(root)


def test_beir_corpus_reader_names_the_line_of_bad_records(tmp_path: Path) -> None:
    """The index's BEIR reader: null text, a non-UTF-8 byte and a repeated _id are errors with a line."""
    from ragloom.retrieval.sources import read_beir_corpus

    path = tmp_path / "corpus.jsonl"
    good = [json.dumps({"_id": "d1", "text": "alpha"}), json.dumps({"_id": 2, "text": "beta"})]
    path.write_text("\n".join(good) + "\n")
    assert [(d.id, d.text) for d in read_beir_corpus(path)] == [("d1", "alpha"), ("2", "beta")]
    for bad, message in [
        (json.dumps({"_id": "d3", "text": None}), r":3: 'text' must be a string, got null"),
        (json.dumps({"_id": None, "text": "x"}), r":3: '_id' must be a string or integer, got null"),
        (json.dumps({"_id": "d1", "text": "again"}), r":3: duplicate _id 'd1' \(first on line 1\)"),
    ]:
        path.write_text("\n".join([*good, bad]) + "\n")
        with pytest.raises(DatasetError, match=message):
            list(read_beir_corpus(path))
    path.write_bytes(("\n".join(good) + "\n").encode() + b'{"_id": "d3", "text": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:3: not UTF-8 text"):
        list(read_beir_corpus(path))


def test_null_text_in_a_dataset_is_an_error_not_the_string_none(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "ds", corpus=[json.dumps({"_id": "d1", "text": None})])
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:1: field 'text' has the wrong type \(None\)"):
        load_dataset(root)
