"""The Ray executor: tasks (no setup) or one actor per worker holding ``setup()``'s state (a model loaded
once). The components the driver registered itself travel with the work (:mod:`ragloom.scale.components`).
Faults: a task whose worker process dies is retried (``retries`` times, on a restarted actor when it
had setup); an item still failing after that gets a Ray error in its slot, so callers fail cleanly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.scale.components import pack_components, with_components
from ragloom.scale.executor import ExecutorBase

__all__ = ["RayExecutor", "import_ray"]

_INIT_LOCK = threading.Lock()


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError naming the extra to install."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            "executor 'ray' needs Ray: pip install 'ragloom[ray]' (or use the default local executor)"
        ) from e
    return ray


def _call(fn: Callable[..., Any], item: Any) -> Any:
    try:
        return fn(item)
    except Exception as e:  # an item's own error travels back as a value; worker deaths stay Ray errors
        return _ItemError(e)


class _ItemError:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Worker:
    """An actor's body: ``setup()`` once, then ``run(fn, item)`` per item."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        self.state = setup()

    def run(self, fn: Callable[..., Any], item: Any) -> Any:
        return _call(lambda x: fn(self.state, x), item)

    def pid(self) -> int:
        import os

        return os.getpid()


class RayExecutor(ExecutorBase):
    """Maps over a Ray cluster. ``address``: see :func:`ragloom.scale.make_executor`; ``workers``: actors
    (or tasks in flight), default the cluster's CPU count; ``retries``: re-runs of an item whose worker
    died; ``runtime_env``: passed to ``ray.init`` (e.g. ``{"env_vars": {...}}``); ``keep_workers``: keep the
    actors of the last ``setup`` alive for the next map with an equal ``setup`` (a model loaded once for many
    updates) until :meth:`close`, instead of freeing their CPUs after each map."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        retries: int = 2,
        runtime_env: dict[str, Any] | None = None,
        keep_workers: bool = False,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"RayExecutor: workers must be >= 1, got {workers}")
        if retries < 0:
            raise ConfigError(f"RayExecutor: retries must be >= 0, got {retries}")
        self.address, self._workers, self.retries, self.runtime_env = address, workers, retries, runtime_env
        self.ray = import_ray()
        self.keep_workers = keep_workers
        self._pool: tuple[bytes, list[Any]] | None = None

    def _init(self) -> Any:
        ray = self.ray
        with _INIT_LOCK:
            if not ray.is_initialized():
                try:
                    ray.init(
                        address=self.address,
                        log_to_driver=False,
                        runtime_env=self.runtime_env,
                        include_dashboard=False if self.address is None else None,
                    )
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise ConfigError(f"cannot reach the Ray cluster at {self.address!r}: {e}") from e
        return ray

    @property
    def workers(self) -> int:
        if self._workers is None:
            cpus = int(self._init().cluster_resources().get("CPU", 1))
            self._workers = max(cpus, 1)
        return self._workers

    def _map(self, fn: Callable[..., Any], items: list[Any], setup: Callable[[], Any] | None) -> list[Any]:
        ray = self._init()
        # components the user registered only here: the workers register them before running anything
        setup, fn = with_components(pack_components(ray.cloudpickle), setup, fn)
        if setup is None:
            return [self._result(ray, ref) for ref in self._with_tasks(fn, items)]
        refs = self._with_actors(fn, items, setup)
        try:
            return [self._result(ray, ref) for ref in refs]
        finally:
            if not self.keep_workers:
                self.close()

    def _with_tasks(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        ray = self.ray
        task = ray.remote(max_retries=self.retries, num_cpus=1)(_call)
        fn_ref = ray.put(fn)
        refs: list[Any] = []
        for item in items:  # at most `workers` in flight
            pending = [r for r in refs if r is not None]
            if len(pending) >= self.workers:
                ray.wait(pending, num_returns=len(pending) - self.workers + 1)
            refs.append(task.remote(fn_ref, item))
        return refs

    def _with_actors(self, fn: Callable[..., Any], items: list[Any], setup: Callable[[], Any]) -> list[Any]:
        ray = self.ray
        key = ray.cloudpickle.dumps(setup)
        if self._pool is None or self._pool[0] != key:
            self.close()
            cls = ray.remote(num_cpus=1, max_restarts=self.retries, max_task_retries=self.retries)(_Worker)
            self._pool = (key, [cls.remote(setup) for _ in range(self.workers)])
        actors = self._pool[1]
        fn_ref = ray.put(fn)
        return [actors[i % len(actors)].run.remote(fn_ref, item) for i, item in enumerate(items)]

    def close(self) -> None:
        """Free the kept actors' CPUs (and models)."""
        if self._pool is not None:
            for actor in self._pool[1]:
                self.ray.kill(actor)
            self._pool = None

    def _result(self, ray: Any, ref: Any) -> Any:
        try:
            value = ray.get(ref)
        except ray.exceptions.RayError as e:
            return e
        return value.error if isinstance(value, _ItemError) else value

    def shutdown(self) -> None:
        """Disconnect this driver (the cluster itself keeps running)."""
        if self.ray.is_initialized():
            self.ray.shutdown()
