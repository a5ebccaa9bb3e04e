"""Redaction: every string that goes into a support bundle passes through a ``Redactor``, and every report the
tool renders (text, JSON, JUnit, the notebook's HTML) is masked against the secrets the run knows.

A ``Redactor`` applies three kinds of rules, in this order, to each string:

1. **Known values**: the values of secret-looking environment variables, the credentials of the
   kubeconfigs in use, the Ray auth token, the TLS private key and the dashboard's credentials are
   collected first, so they are caught wherever they appear (a log line, a command line, an error
   message), whatever they look like.
2. **Shapes**: private keys (PEM blocks, OpenSSH, SSH2 and PuTTY keys, base64-encoded PEM), vendor tokens
   (GitHub, Slack, Hugging Face, OpenAI-style ``sk-``, GitLab, Google API keys, PyPI, Azure storage keys and
   SAS signatures), bearer and basic credentials, header flags (``--dashboard-header 'Name: value'``,
   ``-H``), credentials in URLs, JWTs (Kubernetes service-account tokens), AWS access keys, and
   ``password=...``-style assignments.
3. **Names**: in JSON, a value under a secret-looking key (``{"REDIS_PASSWORD": ...}``) or in a
   Kubernetes ``{"name": ..., "value": ...}`` pair with a secret-looking name.

User patterns (``--redact PATTERN``, regular expressions) come on top. A redacted value becomes
``***REDACTED***``; the Redactor records where and by which rule, never the value.

The run's own outputs are masked in one place: ``config.build`` learns every secret of the run (the dashboard's
password and header values, the Ray auth token, the TLS private key) into ``RunConfig.secrets``, the runner hands
them to the ``Report`` (``Report.secrets``: never shown, never serialised), and each renderer shows
``masked(report)``, never the report itself. Those outputs hold no secret by construction; the mask is what keeps
one out when a server echoes it back (an autoscaler error, a log line in a job's failure).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Pattern, Tuple, TypeVar

from preflight.errors import UsageError, shown

MASK = "***REDACTED***"
#: Parts of a name that mark its value as secret (environment variables, JSON keys, kubeconfig fields).
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "KEY", "CREDENTIAL", "AUTH", "PRIVATE",
                     "COOKIE", "SESSION_ID", "SIGNATURE", "CERTIFICATE_DATA", "CERTIFICATE-DATA")
#: Known values shorter than this are not swept for everywhere ("1" or "true" would blank half the bundle);
#: they are still redacted where their name marks them.
MIN_KNOWN_LENGTH = 6
#: Kubeconfig fields that hold credentials (users[].user.*, and auth-provider/exec configs).
KUBECONFIG_SECRET_FIELDS = ("token", "password", "client-key-data", "client-certificate-data", "id-token", "refresh-token",
                            "access-token", "client-secret", "client-key", "client-certificate")

_SHAPES: Tuple[Tuple[str, Pattern[str], int], ...] = (
    # (rule, pattern, group to mask; 0 = the whole match)
    # Private keys: PEM (PKCS#1/#8, EC, OpenSSH, encrypted, PGP; certificates too), SSH2 and PuTTY files, and PEM
    # encoded once more in base64 (a Kubernetes secret's data, a kubeconfig's client-key-data).
    ("pem-block", re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.S), 0),
    ("ssh2-private-key", re.compile(r"---- BEGIN SSH2 (ENCRYPTED )?PRIVATE KEY ----.*?(?:---- END SSH2 \1?PRIVATE KEY ----|\Z)",
                                    re.S), 0),
    ("putty-private-key", re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC: *[0-9A-Fa-f]+|\Z)", re.S), 0),
    ("pem-base64", re.compile(r"\bLS0tLS1CRUdJT[A-Za-z0-9+/]{16,}={0,2}"), 0),
    # Vendor tokens, each with its fixed prefix and a length (and for the short prefixes, a random-looking body) that
    # words and package names do not have: sk-learn, hf_hub_download, xoxo, risk-free stay readable.
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})"), 0),
    ("slack-token", re.compile(r"\b(?:xox[abeprs]|xapp)-(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{10,}"), 0),
    ("huggingface-token", re.compile(r"\bhf_(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z])[A-Za-z0-9]{30,}"), 0),
    ("openai-key", re.compile(r"\bsk-(?:(?:proj|svcacct|admin|ant-[a-z]+\d*)-|(?=[A-Za-z0-9_-]*?[A-Za-z0-9]{20}))"
                              r"(?=[A-Za-z0-9_-]*?\d)[A-Za-z0-9_-]{20,}"), 0),
    ("gitlab-token", re.compile(r"\bgl(?:pat|ptt|dt|rt|cbt|ft|imt|oas|soat|agent|wt|ffct)-(?=[A-Za-z0-9_-]*[0-9A-Z])"
                                r"[A-Za-z0-9_-]{20,}"), 0),
    ("google-api-key", re.compile(r"\bAIza(?=[0-9A-Za-z_-]*[0-9A-Z])[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), 0),
    ("pypi-token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}"), 0),
    ("azure-storage-key", re.compile(r"(?i)\b((?:Account|SharedAccess)Key\s*=\s*)([A-Za-z0-9+/]{20,}={0,2})"), 2),
    ("azure-sas-signature", re.compile(r"[?&]sig=([A-Za-z0-9%+/=]{20,})"), 1),
    # A header given on a command line: ``--dashboard-header 'Name: value'``, ``--header``, ``-H`` (curl).
    ("header-flag", re.compile(r"((?<![\w-])(?:--?[\w-]*(?:header|Header|HEADER)|-H)(?:=|\s+)[\"']?[!#$%&*+.^_`|~0-9A-Za-z-]+:[ \t]*)"
                               r"([^\"'\r\n]+)"), 2),
    ("bearer-token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)"), 1),
    ("basic-auth", re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}=*)"), 1),
    ("url-credentials", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"']*:)([^\s\"'<>]*?)(@[^\s@\"'<>]*)"), 2),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), 0),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), 0),
    ("secret-assignment", re.compile(
        r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
        r"[\"']?\s*[=:]\s*[\"']?)([^\s\"',;&}]{3,})"), 2),
    ("secret-flag", re.compile(r"(?i)(?<![\w-])(--?[\w-]*(?:password|passwd|secret|token|api-?key)[\w-]*[=\s]+)([^\s\"']+)"), 2),
)


def secret_name(name: object) -> bool:
    """True when a variable, key or field name marks its value as secret (``AWS_SECRET_ACCESS_KEY``, ``token``)."""
    if not isinstance(name, str):
        return False
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


@dataclass
class Redactor:
    """Scrubs strings, JSON-like values and text; ``entries`` says what was redacted where (never the value)."""

    known: Dict[str, str] = field(default_factory=dict)  # secret value → the rule that names where it came from
    patterns: List[Tuple[str, Pattern[str]]] = field(default_factory=list)
    entries: List[Dict[str, Any]] = field(default_factory=list)
    #: At most this many entries are kept; the rest are counted.
    max_entries: int = 2000
    dropped: int = 0

    # -- building ----------------------------------------------------------------------------------------------

    def add_known(self, value: object, rule: str) -> None:
        """A secret value to sweep for everywhere (ignored when too short to sweep for safely)."""
        if isinstance(value, str) and len(value.strip()) >= MIN_KNOWN_LENGTH and value not in self.known:
            self.known[value] = rule

    def add_environment(self, environ: Mapping[str, str]) -> None:
        for name, value in environ.items():
            if secret_name(name):
                self.add_known(value, f"secret environment variable {name}")
            for rule, found in self._shape_matches(value):  # https_proxy=http://user:pass@..., a token in a variable
                self.add_known(found, f"{rule} in environment variable {name}")

    def add_kubeconfig(self, document: object, where: str) -> None:
        """Every credential field of a parsed kubeconfig (users, auth providers, exec env) becomes a known value."""
        for key, value in _walk_fields(document):
            if isinstance(value, str) and (key in KUBECONFIG_SECRET_FIELDS or secret_name(key)):
                self.add_known(value, f"kubeconfig credential {key} ({where})")

    def add_secrets(self, pairs: Iterable[Tuple[str, str]]) -> None:
        """(value, what it is) pairs: a run's secrets (``RunConfig.secrets``, ``environment_secrets``)."""
        for value, what in pairs:
            self.add_known(value, what)

    def add_patterns(self, patterns: Iterable[str]) -> None:
        for text in patterns:
            if not isinstance(text, str) or not text:
                raise UsageError("--redact needs a non-empty regular expression")
            try:
                compiled = re.compile(text)
            except re.error as exc:
                raise UsageError(f"--redact {shown(text)}: not a regular expression ({exc})") from None
            if compiled.search(""):
                raise UsageError(f"--redact {shown(text)}: matches the empty string, which would redact nothing useful")
            self.patterns.append((f"--redact pattern #{len(self.patterns) + 1}", compiled))

    # -- scrubbing ---------------------------------------------------------------------------------------------

    def text(self, value: str, file: str, where: str) -> str:
        """``value`` with every secret in it masked; each masking is recorded against ``file`` and ``where``."""
        if not value or MASK == value:
            return value
        value = self._known(value, file, where)
        for rule, pattern, group in _SHAPES:
            value = self._sub(pattern, group, value, rule, file, where)
        for rule, pattern in self.patterns:
            value = self._sub(pattern, 0, value, rule, file, where)
        return value

    def value(self, data: Any, file: str, where: str = "$") -> Any:
        """A copy of JSON-like ``data`` with secrets masked: by the text rules in every string, and whole values under
        secret-looking keys. Keys are kept (they are names, and the reader needs to see what was hidden), except that a
        known secret used as a key (a label, an env_vars name) is masked in it, and in the path recorded for it."""
        if isinstance(data, dict):
            out: Dict[str, Any] = {}
            named = _env_pair(data)
            for given, item in data.items():
                key = self._known(given, file, f"a key in {where}") if isinstance(given, str) else given
                path = f"{where}.{key}" if _plain(key) else f"{where}[{key!r}]"
                if named is not None and key == "value" and isinstance(item, str) and item:
                    out[key] = MASK
                    self._record(file, path, f"secret name {named}")
                elif secret_name(key) and isinstance(item, str) and item and item != MASK:
                    out[key] = MASK
                    self._record(file, path, f"secret name {key}")
                else:
                    out[key] = self.value(item, file, path)
            return out
        if isinstance(data, (list, tuple)):
            return [self.value(item, file, f"{where}[{i}]") for i, item in enumerate(data)]
        if isinstance(data, str):
            return self.text(data, file, where)
        return data

    def _known(self, value: str, file: str, where: str) -> str:
        """``value`` with every remembered secret in it masked, longest first."""
        for secret in sorted(self.known, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
                self._record(file, where, self.known[secret])
        return value

    def lines(self, text: str, file: str) -> str:
        """A log or other text, scrubbed line by line so each masking is recorded with its line number
        (a private key spanning lines, and a known value that does, are masked as a whole first)."""
        for secret in sorted((k for k in self.known if "\n" in k), key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
                self._record(file, "a multi-line block", self.known[secret])
        for rule, pattern, group in _SHAPES:
            if rule in _MULTI_LINE:
                text = self._sub(pattern, group, text, rule, file, "a multi-line block")
        return "".join(self.text(line, file, f"line {n}") for n, line in enumerate(text.splitlines(True), 1))

    def summary(self) -> Dict[str, Any]:
        """What ``redactions.json`` holds."""
        by_rule: Dict[str, int] = {}
        for entry in self.entries:
            by_rule[entry["rule"]] = by_rule.get(entry["rule"], 0) + 1
        return {"mask": MASK, "count": len(self.entries) + self.dropped, "by_rule": by_rule,
                "not_listed": self.dropped, "user_patterns": len(self.patterns), "redactions": self.entries}

    # -- helpers -----------------------------------------------------------------------------------------------

    def _sub(self, pattern: Pattern[str], group: int, value: str, rule: str, file: str, where: str) -> str:
        def mask(match: "re.Match[str]") -> str:
            if not match.group(group) or _MASKED.match(match.group(group)):  # masked already by an earlier rule
                return match.group(0)
            self._record(file, where, rule)
            if group == 0:
                return MASK
            start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
            whole = match.group(0)
            return whole[:start] + MASK + whole[end:]

        return pattern.sub(mask, value)

    def _shape_matches(self, value: str) -> List[Tuple[str, str]]:
        found = []
        for rule, pattern, group in _SHAPES:
            for match in pattern.finditer(value or ""):
                if match.group(group):
                    found.append((rule, match.group(group)))
        return found

    def _record(self, file: str, where: str, rule: str) -> None:
        if len(self.entries) >= self.max_entries:
            self.dropped += 1
            return
        self.entries.append({"file": file, "where": where, "rule": rule})


#: A value an earlier rule masked, perhaps followed by the rest of a URL (``token:***REDACTED***@host/path``): left alone.
_MASKED = re.compile(re.escape(MASK) + r"(?:[@/?#]|$)")
#: The shapes that may span lines (``Redactor.lines`` masks them before it splits a text into lines).
_MULTI_LINE = ("pem-block", "ssh2-private-key", "putty-private-key")


def environment_secrets(environ: Mapping[str, str]) -> List[Tuple[str, str]]:
    """(value, what it is) for the secrets Ray would use from ``environ``: its auth token (``RAY_AUTH_TOKEN``, the file
    ``RAY_AUTH_TOKEN_PATH`` names, ``~/.ray/auth_token``) and the content of the TLS private key ``RAY_TLS_SERVER_KEY``
    names (whole, and each line of its body, so a piece of it is caught too)."""
    from preflight.ray_security import find_token, tls_files

    found: List[Tuple[str, str]] = []
    token, _ = find_token(environ)
    if token is not None and token.value:
        found.append((token.value, f"Ray auth token ({token.describe()})"))
    key = tls_files(environ).key
    if key:
        try:
            with open(os.path.expanduser(key), encoding="utf-8", errors="replace") as handle:
                content = handle.read(1 << 20)
        except OSError:
            content = ""
        what = "TLS private key (RAY_TLS_SERVER_KEY)"
        if content.strip():
            found.append((content.strip(), what))
        found += [(line.strip(), what) for line in content.splitlines()
                  if len(line.strip()) >= 16 and not line.startswith("-----") and ":" not in line]
    return found


# -- the run's own outputs ---------------------------------------------------------------------------------------

_R = TypeVar("_R")


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` (long enough to sweep for safely) replaced by the mask."""
    for secret in sorted((s for s in secrets if len(s.strip()) >= MIN_KNOWN_LENGTH), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def masked(report: _R) -> _R:
    """A copy of ``report`` (a ``Report``) in which every string (results, facts, target, keys too) has the run's
    secrets (``report.secrets``, from its ``RunConfig``) masked; ``report`` itself when there is none to mask. The
    renderers show only this."""
    secrets = sorted((s for s in getattr(report, "secrets", ()) if len(s.strip()) >= MIN_KNOWN_LENGTH), key=len, reverse=True)
    if not secrets:
        return report
    return _scrubbed(report, secrets)  # type: ignore[no-any-return]


def _scrubbed(value: Any, secrets: List[str]) -> Any:
    if isinstance(value, enum.Enum):  # a Status is a str: kept as it is
        return value
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {(_scrubbed(k, secrets) if isinstance(k, str) else k): _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item, secrets) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_scrubbed(item, secrets) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _scrubbed(getattr(value, f.name), secrets) for f in dataclasses.fields(value)
                   if f.init and f.name != "secrets"}  # the copy keeps what it masks, so it can be masked again
        try:
            return dataclasses.replace(value, **changes)
        except (TypeError, ValueError):  # a dataclass that cannot be rebuilt field by field: shown as plain data
            return _scrubbed(dataclasses.asdict(value), secrets)
    if hasattr(value, "to_dict"):  # an object a renderer would show through its to_dict
        return _scrubbed(value.to_dict(), secrets)
    return value


def _plain(key: object) -> bool:
    return isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) is not None


def _env_pair(data: Dict[str, Any]) -> Optional[str]:
    """The name of a Kubernetes-style ``{"name": "REDIS_PASSWORD", "value": ...}`` pair with a secret-looking name."""
    name = data.get("name")
    if "value" in data and isinstance(name, str) and secret_name(name):
        return name
    return None


def _walk_fields(document: object) -> Iterable[Tuple[str, object]]:
    """Every (field name, value) pair in a parsed document; a secret-named ``{"name", "value"}`` pair counts as one."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield str(key), value
            yield from _walk_fields(value)
        named = _env_pair(document)
        if named is not None:
            yield named, document.get("value")
    elif isinstance(document, list):
        for i, item in enumerate(document):
            yield from _walk_fields(item)
            if isinstance(item, str) and item.startswith("-") and secret_name(item) and i + 1 < len(document):
                yield item, document[i + 1]  # exec args: ["--client-secret", "<value>"]
