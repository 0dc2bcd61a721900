"""Evaluation: BEIR-layout datasets, retrieval/QA metrics, pipelines by name or YAML, and the harness.

Imports are lazy (``from ragloom.eval import evaluate`` loads only what it needs), so importing the package
stays cheap. ``ragloom eval DATASET_DIR --pipeline NAME|FILE.yaml`` and
``ragloom eval FLOW.yaml --dataset DIR`` are the command-line entry points; :func:`evaluate_flow` is the
one evaluator behind both.
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS = {
    "Dataset": "ragloom.eval.datasets",
    "GoldSpan": "ragloom.eval.datasets",
    "load_dataset": "ragloom.eval.datasets",
    "split_queries": "ragloom.eval.datasets",
    "indexable_documents": "ragloom.eval.datasets",
    "ndcg_at_k": "ragloom.eval.metrics",
    "recall_at_k": "ragloom.eval.metrics",
    "mrr": "ragloom.eval.metrics",
    "span_hit_at_k": "ragloom.eval.metrics",
    "exact_match": "ragloom.eval.metrics",
    "token_f1": "ragloom.eval.metrics",
    "doc_scores": "ragloom.eval.metrics",
    "drop_own_id": "ragloom.eval.metrics",
    "PipelineSpec": "ragloom.eval.pipelines",
    "pipeline_spec": "ragloom.eval.pipelines",
    "load_pipeline_spec": "ragloom.eval.pipelines",
    "RetrievalPipeline": "ragloom.eval.build",
    "build_pipeline": "ragloom.eval.build",
    "EvalPipeline": "ragloom.eval.harness",
    "EvalResult": "ragloom.eval.harness",
    "evaluate": "ragloom.eval.harness",
    "evaluate_flow": "ragloom.eval.flow_eval",
    "FlowEvalReport": "ragloom.eval.flow_eval",
    "StateKeys": "ragloom.eval.flow_eval",
    "QuestionCase": "ragloom.eval.flow_metrics",
    "DEFAULT_METRICS": "ragloom.eval.flow_metrics",
    "dataset_resources": "ragloom.eval.flow_resources",
    "index_resources": "ragloom.eval.flow_resources",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
