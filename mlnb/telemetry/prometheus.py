"""Scrape an inference server's ``/metrics`` and keep the series of ``metric_names``.

Parsing is prometheus_client's text parser. A scrape never raises: a missing endpoint, a
page that is not Prometheus text or a server that stops answering is counted and described in
``ScrapeTarget.status()``, so the stage finishes and its report says what happened.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

from prometheus_client.parser import text_string_to_metric_families

from mlnb.telemetry.metric_names import LEVEL_SERIES, SERVER_HISTOGRAMS, SERVER_SERIES

SCRAPE_TIMEOUT_S = 1.0
# After this many failures in a row the target is tried only every BACKOFF_S: a dead server costs nothing.
FAILURES_BEFORE_BACKOFF = 3
BACKOFF_S = 5.0
MAX_BODY_BYTES = 16 * 1024 * 1024


def metrics_url(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port/metrics`` (the servers publish it at the root)."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root + "/metrics"


@dataclass
class Histogram:
    """One server histogram at one scrape: cumulative bucket counts by upper bound, sum and count."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0


@dataclass
class Scrape:
    values: dict[str, float]
    histograms: dict[str, Histogram]
    names: dict[str, str]  # canonical -> the name the server used


_WANTED = frozenset(name for names in (*SERVER_SERIES.values(), *SERVER_HISTOGRAMS.values()) for name in names)
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _wanted(name: str) -> bool:
    if name in _WANTED:
        return True
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in _WANTED:
            return True
    return False


def wanted_lines(text: str) -> str:
    """Only the lines of the families mlnb reads, whole and unchanged, for the parser: vLLM's page is
    mostly histograms mlnb does not read, and parsing all of it at every tick would cost the most CPU."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE") and not _wanted(parts[2]):
                continue
        elif line.strip() and not _wanted(line.split("{", 1)[0].split(None, 1)[0]):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def parse_metrics(text: str) -> Scrape:
    """The known series in one Prometheus text page; raises ValueError when the page is not that format
    (a page with none of the known families parses to an empty result)."""
    by_sample: dict[str, list[float]] = {}
    hist_parts: dict[str, Histogram] = {}
    first = next((line for line in text.splitlines() if line.strip()), "")
    list(text_string_to_metric_families(first + "\n"))  # a page that is not Prometheus text fails here, in the parser
    for family in text_string_to_metric_families(wanted_lines(text)):
        for sample in family.samples:
            by_sample.setdefault(sample.name, []).append(float(sample.value))
            if family.type == "histogram":
                hist = hist_parts.setdefault(family.name, Histogram())
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels.get("le", "inf").replace("+Inf", "inf"))
                    hist.buckets[bound] = hist.buckets.get(bound, 0.0) + float(sample.value)
                elif sample.name.endswith("_sum"):
                    hist.total += float(sample.value)
                elif sample.name.endswith("_count"):
                    hist.count += float(sample.value)
    values: dict[str, float] = {}
    names: dict[str, str] = {}
    for canonical, candidates in SERVER_SERIES.items():
        for name in candidates:
            found = by_sample.get(name) or by_sample.get(name + "_total")
            if found:
                values[canonical] = max(found) if canonical in LEVEL_SERIES else sum(found)
                names[canonical] = name
                break
    histograms: dict[str, Histogram] = {}
    for canonical, candidates in SERVER_HISTOGRAMS.items():
        for name in candidates:
            if name in hist_parts:
                histograms[canonical] = hist_parts[name]
                names[canonical] = name
                break
    return Scrape(values, histograms, names)


class ScrapeTarget:
    """One server's /metrics, scraped on demand; remembers what went wrong and when."""

    def __init__(self, url: str, origin: str):
        self.url = url
        self.origin = origin  # "managed server" or "base_url"
        self.attempts = 0
        self.ok = 0
        self.failures: dict[str, int] = {}
        self.first_failure: dict[str, str] = {}
        self.last_ok_s: Optional[float] = None
        self.first_fail_after_ok_s: Optional[float] = None
        self.names: dict[str, str] = {}
        self.first: Optional[Scrape] = None
        self.last: Optional[Scrape] = None
        self._in_a_row = 0
        self._next_try = 0.0

    def scrape(self, now_s: float) -> Optional[Scrape]:
        """One scrape at ``now_s`` (seconds on the sampler's clock); None when it failed or was skipped."""
        if now_s < self._next_try:
            return None
        self.attempts += 1
        try:
            with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT_S) as response:  # noqa: S310 (http only)
                body = response.read(MAX_BODY_BYTES).decode("utf-8", errors="replace")
            result = parse_metrics(body)
        except urllib.error.HTTPError as err:
            return self._failed(now_s, f"HTTP {err.code}", f"HTTP {err.code} {err.reason}")
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            return self._failed(now_s, "unreachable", f"{type(reason).__name__}: {reason}")
        except ValueError as err:
            return self._failed(now_s, "not Prometheus text", str(err)[:200])
        self._in_a_row = 0
        self.ok += 1
        self.last_ok_s = now_s
        self.names.update(result.names)
        if self.first is None:
            self.first = result
        self.last = result
        return result

    def _failed(self, now_s: float, kind: str, detail: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1
        self.first_failure.setdefault(kind, detail)
        if self.ok and self.first_fail_after_ok_s is None:
            self.first_fail_after_ok_s = now_s
        self._in_a_row += 1
        if self._in_a_row >= FAILURES_BEFORE_BACKOFF:
            self._next_try = now_s + BACKOFF_S
        return None

    def status(self) -> dict:
        """What happened, in a form summary.json keeps and the report prints."""
        out = {"url": self.url, "origin": self.origin, "attempts": self.attempts, "ok": self.ok,
               "failures": dict(self.failures), "first_failure": dict(self.first_failure),
               "series": dict(self.names)}
        out["note"] = self._note()
        return out

    def _note(self) -> str:
        failed = ", ".join(f"{kind} x{n} ({self.first_failure[kind]})" for kind, n in self.failures.items())
        if not self.attempts:
            return "never scraped"
        if not self.ok:
            return f"no scrape succeeded: {failed}"
        if not self.names:
            return "/metrics answered, but with none of the vLLM, SGLang or TGI series mlnb reads"
        if self.first_fail_after_ok_s is not None and (self.last_ok_s or 0) < self.first_fail_after_ok_s:
            return (f"the server stopped answering at t={self.first_fail_after_ok_s:.1f}s after {self.ok} good scrapes: "
                    f"{failed}; the series end there")
        if self.failures:
            return f"{self.ok} of {self.attempts} scrapes succeeded; failures: {failed}"
        return f"all {self.ok} scrapes succeeded"


def histogram_delta(first: Optional[Histogram], last: Optional[Histogram]) -> Optional[dict]:
    """Mean and bucket-bound percentiles of what the server observed between two scrapes."""
    if last is None:
        return None
    first = first or Histogram()
    count = last.count - first.count
    if count <= 0:
        return {"count": 0}
    out = {"count": int(count), "mean": (last.total - first.total) / count}
    bounds = sorted(last.buckets)
    for p in (50, 90, 99):
        wanted = p / 100.0 * count
        for bound in bounds:
            if last.buckets[bound] - first.buckets.get(bound, 0.0) >= wanted:
                out[f"p{p}_at_most"] = None if math.isinf(bound) else bound
                break
    return out

