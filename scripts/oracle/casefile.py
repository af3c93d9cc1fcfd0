"""Reads oracle case files and lays them out as charts (used by scripts/regen-oracle).

The format (documented in testdata/README.md; crates/trellis/tests/oracle_support reads it the same way):
a txtar-like file. Lines before the first `-- NAME --` marker are the header: `# comments`, blank
lines and `key: value` settings (release, namespace, chart). Each `-- NAME --` line starts a section
that runs to the next marker:
  template   the case body; wrapped into templates/_case.tpl as {{define "case"}}BODY{{end}} (its
             final newline removed) and rendered by the fixed wrapper template below
  flags      extra `helm template` arguments, one per line (blank lines ignored); `$CHART` in an
             argument stands for the chart directory (for a corpus chart's own values files)
  shape      a regex (lines concatenated, final newline dropped) the decoded output must fully match
  @PATH      a file outside the chart, in the working directory (for -f / --set-file)
  PATH       a file inside the chart (Chart.yaml replaces the default one)
A file section named `PATH (base64)` or `@PATH (base64)` holds the file's bytes base64-encoded
(whitespace ignored): binary files, which a text case file cannot hold.
"""

import base64
import os
import re

CHART_DIR = "chart"
DEFAULT_RELEASE = "rel"
DEFAULT_NAMESPACE = "ns"
DEFAULT_CHART_YAML = """apiVersion: v2
name: oracle
description: A throwaway chart holding one oracle case
type: application
version: 0.1.0
appVersion: "1.16.0"
"""
WRAPPER = 'out: {{ include "case" . | b64enc | quote }}\n'
MARKER = re.compile(r"^-- (.+) --$")
BASE64_SUFFIX = " (base64)"
WRAPPED_OUT = re.compile(r'^# Source: [^\n]*/templates/case\.yaml\nout: "([A-Za-z0-9+/=]*)"$', re.M)


class Case:
    def __init__(self):
        self.header = {}
        self.sections = {}  # name -> text, in file order

    @property
    def release(self):
        return self.header.get("release", DEFAULT_RELEASE)

    @property
    def namespace(self):
        return self.header.get("namespace", DEFAULT_NAMESPACE)

    @property
    def chart(self):
        return self.header.get("chart")

    @property
    def wrapped(self):
        return "template" in self.sections

    def flags(self, chart_dir=CHART_DIR):
        text = self.sections.get("flags", "")
        return [line.replace("$CHART", chart_dir) for line in text.split("\n") if line != ""]

    @property
    def shape(self):
        if "shape" not in self.sections:
            return None
        return "".join(self.sections["shape"].split("\n"))


def parse(text):
    case = Case()
    current = None
    for line in text.splitlines(keepends=True):
        m = MARKER.match(line.rstrip("\n"))
        if m:
            current = m.group(1)
            if current in case.sections:
                raise ValueError(f"duplicate section {current!r}")
            case.sections[current] = ""
        elif current is not None:
            case.sections[current] += line
        else:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                key, sep, value = stripped.partition(":")
                if not sep:
                    raise ValueError(f"bad header line {line!r}")
                case.header[key.strip()] = value.strip()
    return case


def parse_file(path):
    with open(path, encoding="utf-8") as f:
        return parse(f.read())


def materialize(case, work):
    """Writes the case's chart under WORK/chart and its @files under WORK."""
    chart = os.path.join(work, CHART_DIR)
    files = {}
    if case.chart is None:
        files[os.path.join(chart, "Chart.yaml")] = DEFAULT_CHART_YAML
    for name, text in case.sections.items():
        if name in ("flags", "shape"):
            continue
        if name == "template":
            body = text[:-1] if text.endswith("\n") else text
            files[os.path.join(chart, "templates", "_case.tpl")] = '{{define "case"}}' + body + "{{end}}"
            files[os.path.join(chart, "templates", "case.yaml")] = WRAPPER
        else:
            data = text.encode("utf-8")
            if name.endswith(BASE64_SUFFIX):
                name = name[: -len(BASE64_SUFFIX)]
                data = base64.b64decode("".join(text.split()), validate=True)
            if name.startswith("@"):
                files[os.path.join(work, name[1:])] = data
            else:
                files[os.path.join(chart, name)] = data
    for path, data in files.items():
        if isinstance(data, str):
            data = data.encode("utf-8")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def decode_wrapped(stdout):
    m = WRAPPED_OUT.search(stdout.decode("utf-8", "replace"))
    return base64.b64decode(m.group(1)) if m else None


def regex_escape(text):
    """Escapes only what both Python's re and Rust's regex crate treat as special."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)
