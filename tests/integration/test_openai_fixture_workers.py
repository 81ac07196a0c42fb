"""The zero-compute server in several processes: one port, counts shared, and no process left behind."""

from __future__ import annotations

import json
import urllib.request

import psutil

from fixtures.openai_fixture import fake_openai_server, server_stats


def _stream(url: str) -> list[dict]:
    body = json.dumps({"model": "fake-model", "prompt": [1, 2, 3], "max_tokens": 3, "stream": True,
                       "return_token_ids": True, "stream_options": {"include_usage": True}}).encode()
    request = urllib.request.Request(f"{url}/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        lines = response.read().decode().split("\n\n")
    assert lines[-2] == "data: [DONE]"
    return [json.loads(line[len("data: "):]) for line in lines[:-2]]


def test_workers_share_one_port_and_their_counts_and_stop_together():
    with fake_openai_server(tokens=3, workers=3) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        listeners = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "LISTEN"]
        pids = {c.pid for c in listeners if c.pid}
        answers = [_stream(url) for _ in range(9)]
        stats = server_stats(url)
    assert len(listeners) == 3  # one socket per process, SO_REUSEPORT
    assert stats["requests"] == 9 and stats["prompt_forms"]["tokens"] == 9
    for chunks in answers:  # the replayed bytes are the chunks a single process would write
        assert [c["choices"][0]["token_ids"] for c in chunks[:-1]] == [[1000], [1001], [1002]]
        assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "length"]
        assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
