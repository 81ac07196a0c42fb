"""The openai backend closes its aiohttp session on every path: no "Unclosed client session" noise
(which used to end up in the harness log and the stage's failure.json)."""

import subprocess
import sys
import textwrap

from fixtures.openai_fixture import fake_openai_server

# One process (transformers is slow to import): a load that fails on an unreachable server, then a
# load that succeeds and a process that ends without stop(), as when a later step of the harness fails.
SCRIPT = textwrap.dedent(
    """
    import sys
    from mlnb.backends.registry import get_backend
    from mlnb.config import StageParams
    from mlnb.errors import InputError

    for url in (sys.argv[1], sys.argv[2]):
        params = StageParams(backend="openai", base_url=url, model=sys.argv[3], served_model_name="fake-model")
        backend = get_backend("openai")(params)
        try:
            backend.load()
            print("loaded", flush=True)
        except InputError as err:
            print(f"error: {err}", flush=True)
    """
)


def test_no_unclosed_session_on_a_failed_load_or_an_exit_without_stop(embedded_model_dir):
    with fake_openai_server() as url:
        result = subprocess.run([sys.executable, "-c", SCRIPT, "http://127.0.0.1:9/v1", url, embedded_model_dir],
                                capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    assert "error: base_url http://127.0.0.1:9/v1" in output and "loaded" in output, output
    assert "Unclosed" not in output, output
