"""The pipeline's side of a managed server: start it before the first stage, hand stages its URL."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from mlnb.server.managed import ManagedServer, ServerFailed


def start_run_server(plan, run_dir: Path, echo=print) -> Optional[list[ManagedServer]]:
    """Start the preset's ``server:`` (if any; one per device of ``devices``), wait until every one is ready,
    and point the stages at them (several URLs: the openai backend spreads queries over them).

    Stages of the ``openai`` backend without their own ``base_url`` get the server's URL and
    served model name. Raises :class:`ServerFailed` (with the server stopped) when it never gets ready.
    """
    from mlnb.models.embedded import resolve_model

    spec = plan.preset.server
    if spec is None:
        return None
    model = spec.model or plan.preset.common.get("model", "embedded")
    served = spec.served_model_name or model
    path = resolve_model(model)
    if spec.kind == "transformers":  # it serves a model under its hub id, a local folder through a cache view
        from mlnb.server.hub_view import hub_cache_view

        served = hub_cache_view(Path(path), run_dir / "server" / "hub-cache") if Path(path).is_dir() else path
    devices = spec.devices or [None]
    servers = [ManagedServer(spec, run_dir, path, served, device, index) for index, device in enumerate(devices)]
    try:
        for server in servers:  # all start at once and load in parallel
            on = f" on {server.device}" if server.device else ""
            echo(f"server: starting {spec.kind}{on} at {server.base_url} (log: {server.log_path})")
            server.start()
        seconds = max(server.wait_ready() for server in servers)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    echo(f"server: {len(servers)} ready in {seconds:.0f}s, serving {served!r}" if len(servers) > 1
         else f"server: ready in {seconds:.0f}s, serving {served!r}")
    for name, params in plan.stage_params.items():
        if params is not None and params.backend == "openai" and not params.base_url:
            update = {"base_url": ",".join(server.base_url for server in servers)}
            if not params.served_model_name:
                update["served_model_name"] = served
            if not params.tokenizer and _has_tokenizer(model):  # the server's tokenizer is known: token ids can go
                update["tokenizer"] = model
            if spec.kind == "transformers":  # its /completions takes text only and knows none of vLLM's extras
                update.update(prompt_form="text", vllm_extras=False)
            plan.stage_params[name] = params.model_copy(update=update)
    return servers


def _has_tokenizer(model: str) -> bool:
    from mlnb.models.embedded import resolve_model
    from mlnb.models.tokenizer_at_hand import folder_has_tokenizer

    where = Path(resolve_model(model))
    return not where.is_dir() or folder_has_tokenizer(where)


def stop_run_server(servers: Optional[list[ManagedServer]], echo=print) -> None:
    for server in servers or []:
        on = f" ({server.device})" if len(servers) > 1 and server.device else ""
        echo(f"server{on}: {server.stop()}")


__all__ = ["ServerFailed", "check_server_plan", "start_run_server", "stop_run_server"]


def check_server_plan(preset, stage_params: dict, where: str) -> None:
    """Before the run: every `openai` stage has a URL, its own or the managed server's."""
    from mlnb.errors import InputError

    for name, params in stage_params.items():
        if params is not None and params.backend == "openai" and not params.base_url and preset.server is None:
            raise InputError(
                f"{where} stage {name} base_url",
                "the openai backend needs base_url (--set base_url=http://HOST:PORT/v1) or a `server:` section",
            )
