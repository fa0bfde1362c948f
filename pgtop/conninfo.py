"""Connection input → psycopg parameters, and connection failures → one clean line.

This is the only module that interprets what the user typed as a connection target
(a libpq URI, a ``key=value`` string, a bare database name, or nothing at all, in which
case libpq reads ``PG*`` variables, service files and ``.pgpass`` exactly as psql does).

Every message built here is a single line and never contains a password: libpq's own
parse errors quote fragments of the input (which may be the password), so they are
classified and re-worded, never passed through.

Messages carry no ``pgtop:`` prefix; the command line adds it when it prints them.
"""

from __future__ import annotations

import ast
import os
import re
import stat
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, timeout_from_conninfo

__all__ = [
    "ConnectError",
    "PasswordFileProblem",
    "PgtopError",
    "UsageError",
    "check_option_values",
    "connect_error",
    "connect_kwargs",
    "describe_connect_error",
    "dsn_for_display",
    "parse_dsn",
    "password_file_problem",
    "redact",
]

# Parameters whose values are secrets (libpq marks the first three with dispchar "*").
SECRET_KEYS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)
# Shorter secrets are not scrubbed from messages: they would mangle unrelated words.
_MIN_SCRUB = 3
_MAX_REASON = 300


# --------------------------------------------------------------------------- errors


def _one_line(text: str) -> str:
    """Collapse all whitespace (newlines, tabs, runs of spaces) into single spaces."""
    return " ".join(text.split())


class PgtopError(Exception):
    """An error that ends pgtop with a one-line message and an exit code.

    ``str()`` is always a single line. ``exit_code`` is 1 (runtime) unless a subclass
    or the caller says otherwise.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        self.message = _one_line(message)
        super().__init__(self.message)
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(PgtopError):
    """The user's input is wrong (exit code 2)."""

    exit_code = 2


class ConnectError(PgtopError):
    """A server could not be reached or refused us (exit code 1)."""

    exit_code = 1


# --------------------------------------------------------------------------- redaction


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``***``.

    The percent-encoded form of each secret (as it would appear in a URI) is
    replaced too. Longer secrets are replaced first.
    """
    variants: set[str] = set()
    for secret in secrets:
        if secret:
            variants.add(secret)
            variants.add(quote(secret, safe=""))
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, "***")
    return text


def _secrets_of(params: Mapping[str, object]) -> list[str]:
    """The secret values in ``params``, the service file and PGPASSWORD, long enough to scrub."""
    values = [str(v) for k, v in params.items() if k in SECRET_KEYS and v is not None]
    values.append(os.environ.get("PGPASSWORD", ""))
    service = params.get("service") or os.environ.get("PGSERVICE")
    if service:
        defined = _service_file_values(str(service))
        values += [v for k, v in defined.items() if k in SECRET_KEYS]
    return [v for v in values if len(v) >= _MIN_SCRUB]


# --------------------------------------------------------------------------- parsing

_URI_RE = re.compile(r"^postgres(?:ql)?://")
# Input that may carry a password somewhere: never echo fragments of it.
_SECRETISH_RE = re.compile(r"pass|pwd|secret|scram|@", re.IGNORECASE)


@lru_cache(maxsize=1)
def _known_keywords() -> frozenset[str]:
    return frozenset(opt.keyword.decode() for opt in pq.Conninfo.get_defaults())


def _invalid(reason: str) -> UsageError:
    return UsageError(f"invalid connection string: {reason}")


def _reword_parse_error(libpq_message: str, dsn: str) -> str:
    """Turn a libpq conninfo parse error into our own words, without input fragments
    unless the input has nothing that looks like a password."""
    first = libpq_message.strip().splitlines()[0] if libpq_message.strip() else ""
    safe = not _SECRETISH_RE.search(dsn)

    def frag(pattern: str) -> str | None:
        m = re.search(pattern, first)
        if m and safe and len(m.group(1)) <= 40 and m.group(1).isprintable():
            return m.group(1)
        return None

    if first.startswith('missing "=" after'):
        word = frag(r'^missing "=" after "(.*)" in connection info string')
        after = f'"{word}"' if word is not None else "a word"
        return (
            f'missing "=" after {after} (write key=value pairs separated by spaces; '
            "quote values that contain spaces, e.g. key='a b')"
        )
    if first.startswith("unterminated quoted string"):
        return "a quoted value has no closing ' (write a quote inside a value as \\')"
    if first.startswith("invalid connection option"):
        name = frag(r'^invalid connection option "(.*)"')
        return f'unknown connection option "{name}"' if name else "unknown connection option"
    if first.startswith("invalid URI query parameter"):
        name = frag(r'^invalid URI query parameter: "(.*)"')
        return f'unknown URI query parameter "{name}"' if name else "unknown URI query parameter"
    if first.startswith("invalid percent-encoded token"):
        return "bad percent-encoding (write %XX with two hex digits, e.g. %40 for @, %25 for %)"
    if first.startswith("forbidden value %00"):
        return "bad percent-encoding: %00 is not allowed"
    if first.startswith("unexpected spaces found"):
        return "spaces in a URI must be percent-encoded as %20"
    if "IPv6 host address" in first:
        if first.startswith("end of string"):
            return 'unterminated "[" around an IPv6 host address'
        return "empty IPv6 host address"
    if first.startswith("unexpected character"):
        return (
            'unexpected character after the host (expected ":" or "/"; percent-encode '
            "special characters in the user name and password)"
        )
    if first.startswith("extra key/value separator"):
        return 'extra "=" in a URI query parameter (percent-encode "=" in values as %3D)'
    if first.startswith("missing key/value separator"):
        return 'missing "=" in a URI query parameter'
    if first.startswith("invalid URI"):
        return "invalid URI"
    if safe and first and first.isprintable() and len(first) <= 200:
        return first.removesuffix(" in connection info string")
    return "malformed connection string"


def _check_uri_layout(dsn: str) -> None:
    """Reject URIs whose user:password@ part libpq would split in the wrong place.

    libpq ends the userinfo at the first "@" or "/": an unencoded "/" in a password
    makes libpq read the password as host, port and database name, and a second "@"
    turns the rest of the password into a host name. Both would leak into messages.
    """
    m = _URI_RE.match(dsn)
    if not m:
        return
    head = dsn[m.end() :].split("?", 1)[0]
    at = head.find("@")
    if at < 0:
        return
    if head.count("@") > 1 or "/" in head[:at]:
        raise _invalid(
            'unexpected "@" or "/" in the URI: percent-encode "@" as %40 and "/" as %2F '
            "in the user name, password and database name"
        )


def _check_port(value: str, secrets: list[str], *, where: str = "port") -> None:
    text = value.strip()
    shown = (
        f'"{text}"'
        if len(text) <= 16 and text.isprintable() and not any(s in text for s in secrets)
        else "value"
    )
    if not (text.isascii() and text.isdigit()):
        raise _invalid(f"{where} {shown} is not a number")
    if not 1 <= int(text) <= 65535:
        raise _invalid(f"{where} {shown} is out of range (1-65535)")


# libpq's enumerated options: checked here because psycopg resolves host names before libpq
# sees the options, so a bad value would otherwise surface as "cannot resolve host".
_CHOICES: dict[str, tuple[str, ...]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
    "load_balance_hosts": ("disable", "random"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
}


def _split(value: str | None) -> list[str]:
    return value.split(",") if value else []


def _validate(params: dict[str, str], *, is_uri: bool) -> None:
    secrets = [v for k, v in params.items() if k in SECRET_KEYS and v]

    if not is_uri:
        # libpq reads "host= password=x" as host="password=x": an empty value swallows
        # the next pair, and a password would then show up as a host name.
        keywords = _known_keywords()
        for key, value in params.items():
            if key in SECRET_KEYS:
                continue
            m = re.match(r"\s*([A-Za-z_]+)\s*=", value)
            if m and m.group(1) in keywords:
                raise _invalid(
                    f"{key}= has no value, so libpq took the next key=value pair as its value "
                    f"(write {key}='' or leave it out)"
                )

    ports = _split(params.get("port"))
    for port in ports:
        if port.strip():
            _check_port(port, secrets)

    hosts = _split(params.get("host"))
    hostaddrs = _split(params.get("hostaddr"))
    if hosts and hostaddrs and len(hosts) != len(hostaddrs):
        raise _invalid(f"{len(hosts)} host names but {len(hostaddrs)} hostaddr values")
    nhosts = max(len(hosts), len(hostaddrs), 1)
    if len(ports) > 1 and len(ports) != nhosts:
        raise _invalid(
            f"{len(ports)} ports for {nhosts} host{'s' if nhosts > 1 else ''} "
            "(give one port, or one per host)"
        )

    timeout = params.get("connect_timeout")
    if timeout is not None and timeout.strip():
        t = timeout.strip().removeprefix("-")
        if not (t.isascii() and t.isdigit()):
            raise _invalid("connect_timeout must be a whole number of seconds")


def check_option_values(params: Mapping[str, str]) -> None:
    """Reject a bad value of one of libpq's enumerated options (sslmode …) up front.

    libpq checks these itself, but only once psycopg has resolved the host names: with a
    host that does not resolve, a typo in sslmode would be reported as "cannot resolve host".
    Raises `UsageError`.
    """
    secrets = [v for k, v in params.items() if k in SECRET_KEYS and v]
    for key, allowed in _CHOICES.items():
        choice = params.get(key)
        if choice is None or key not in _known_keywords() or choice in allowed:
            continue
        shown = (
            f' "{choice}"'
            if len(choice) <= 20 and choice.isprintable() and not any(s in choice for s in secrets)
            else ""
        )
        raise _invalid(f"{key}{shown} is not one of {', '.join(allowed)}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_dsn(dsn: str | None) -> dict[str, str]:
    """Parse what the user gave as a connection target into libpq parameters.

    Accepts a libpq URI (``postgresql://`` or ``postgres://``), a ``key=value`` string,
    or, as psql does, a bare database name. ``None`` or an empty string gives ``{}``:
    libpq then takes everything from PG* variables, service files and .pgpass.

    Raises `UsageError` with a one-line message that never contains the password.
    """
    if dsn is None or not dsn.strip():
        return {}
    if "\x00" in dsn:
        raise _invalid("it contains a NUL character")
    if not _encodable(dsn):
        raise _invalid("it is not valid UTF-8")
    is_uri = bool(_URI_RE.match(dsn))
    if not is_uri and "=" not in dsn:
        return {"dbname": dsn}  # psql treats a bare word as the database name
    _check_uri_layout(dsn)
    failure: str | None = None
    try:
        raw = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        failure = str(exc)
    if failure is not None:
        # Raised outside the except block so that libpq's message, which may quote the
        # password, is not kept as __context__ and cannot show up in a traceback.
        raise _invalid(_reword_parse_error(failure, dsn))
    params = {k: str(v) for k, v in raw.items() if v is not None}
    _validate(params, is_uri=is_uri)
    return params


# --------------------------------------------------------------------------- display


def _os_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):
        import getpass

        try:
            return getpass.getuser()
        except Exception:  # noqa: BLE001 - any failure: no better default
            return "postgres"


def _service_files() -> list[Path]:
    """Where libpq looks for service definitions, in order (the user's file, then the system's)."""
    candidates: list[Path] = []
    if os.environ.get("PGSERVICEFILE"):
        candidates.append(Path(os.environ["PGSERVICEFILE"]))
    else:
        candidates.append(Path.home() / ".pg_service.conf")
    if os.environ.get("PGSYSCONFDIR"):
        candidates.append(Path(os.environ["PGSYSCONFDIR"]) / "pg_service.conf")
    return candidates


def _read_services(path: Path) -> dict[str, dict[str, str]] | None:
    """The sections of one service file (None: it cannot be read)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    sections: dict[str, dict[str, str]] = {}
    section: dict[str, str] | None = None
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1].strip(), {})
            continue
        if section is not None and "=" in line:
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), value.strip())
    return sections


def _find_service(service: str) -> tuple[Path | None, dict[str, str]]:
    """(the file that defines the service, its values), as libpq would find it."""
    for path in _service_files():
        sections = _read_services(path)
        if sections is not None and service in sections:
            return path, sections[service]
    return None, {}


def _service_file_values(service: str) -> dict[str, str]:
    """Best-effort read of a service definition, as libpq would find it."""
    return _find_service(service)[1]


def _service_hint(service: str) -> str:
    """Why a service definition was not found, and where to add it."""
    readable = [(p, s) for p in _service_files() if (s := _read_services(p)) is not None]
    if not readable:
        names = [
            "~/.pg_service.conf" if p == Path.home() / ".pg_service.conf" else str(p)
            for p in _service_files()
        ]
        missing = (
            f"{names[0]} does not exist"
            if len(names) == 1
            else f"neither {', '.join(names[:-1])} nor {names[-1]} exists"
        )
        return (
            f"there is no service file ({missing}): define [{service}] in "
            "~/.pg_service.conf, or point PGSERVICEFILE at the file that does"
        )
    found = " or ".join(
        f"{path} (it defines {', '.join(f'[{n}]' for n in sorted(sections)[:8]) or 'nothing'})"
        for path, sections in readable
    )
    return (
        f"there is no [{service}] section in {found}: check the service name "
        "(service= or PGSERVICE) and PGSERVICEFILE"
    )


def _effective(params: Mapping[str, object]) -> dict[str, str]:
    """The parameters libpq would end up with: given > service file > env > defaults."""
    eff = {k: str(v) for k, v in params.items() if v is not None and str(v) != ""}
    service = eff.get("service") or os.environ.get("PGSERVICE")
    if service:
        for key, value in _service_file_values(service).items():
            if value:
                eff.setdefault(key, value)
    for key, env in (
        ("user", "PGUSER"),
        ("host", "PGHOST"),
        ("hostaddr", "PGHOSTADDR"),
        ("port", "PGPORT"),
        ("dbname", "PGDATABASE"),
        ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ):
        if key not in eff and os.environ.get(env):
            eff[key] = os.environ[env]
    eff.setdefault("user", _os_user())
    eff.setdefault("port", "5432")
    eff.setdefault("dbname", eff["user"])
    return eff


def _host_label(host: str) -> str:
    if not host:
        return "[local]"
    if host.startswith(("/", "@")) or (len(host) > 2 and host[1:3] == ":\\"):
        return f"[local:{host}]"
    if ":" in host:
        return f"[{host}]"
    return host


def _targets(eff: Mapping[str, str]) -> list[str]:
    """``host:port`` for each host libpq would try."""
    hosts = _split(eff.get("host")) or _split(eff.get("hostaddr")) or [""]
    ports = _split(eff.get("port")) or ["5432"]
    if len(ports) == 1:
        ports = ports * len(hosts)
    ports += ["5432"] * (len(hosts) - len(ports))
    return [
        f"{_host_label(h.strip())}:{(p.strip() or '5432')}"
        for h, p in zip(hosts, ports, strict=False)
    ]


def dsn_for_display(params: Mapping[str, Any]) -> str:
    """A readable target such as ``app@127.0.0.1:5432/app``, never with a password.

    Missing parts come from the service file, PGUSER/PGHOST/PGPORT/PGDATABASE and
    libpq's defaults (OS user name, local socket shown as ``[local]``, port 5432).
    """
    eff = _effective(params)
    text = f"{eff['user']}@{','.join(_targets(eff))}/{eff['dbname']}"
    service = params.get("service") or os.environ.get("PGSERVICE")
    if service:
        text += f' (service "{service}")'
    return redact(_one_line(text), _secrets_of(params))


def server_for_display(params: Mapping[str, Any]) -> str:
    """Just where the server is, ``127.0.0.1:5433``: short enough to name a source."""
    return redact(_one_line(",".join(_targets(_effective(params)))), _secrets_of(params))


# --------------------------------------------------------------------------- connecting


def connect_kwargs(
    params: Mapping[str, Any], *, application_name: str = "pgtop", connect_timeout: int = 10
) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` / ``AsyncConnection.connect``.

    Everything the user gave is kept. ``application_name`` is added only when the user
    set none: when PGAPPNAME or a service file could set one, it goes in as
    ``fallback_application_name`` so theirs wins. ``connect_timeout`` is added only
    when neither the parameters nor PGCONNECT_TIMEOUT give one.
    """
    kwargs: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    if not str(kwargs.get("application_name", "")):
        kwargs.pop("application_name", None)
        if os.environ.get("PGAPPNAME") or kwargs.get("service") or os.environ.get("PGSERVICE"):
            kwargs.setdefault("fallback_application_name", application_name)
        else:
            kwargs["application_name"] = application_name
    if not str(kwargs.get("connect_timeout", "")).strip() and not os.environ.get(
        "PGCONNECT_TIMEOUT"
    ):
        kwargs["connect_timeout"] = connect_timeout
    return kwargs


# --------------------------------------------------------------------------- failures

_PSYCOPG_PREFIX_RE = re.compile(r"^(?:connection failed|connection is bad): ")
_LIBPQ_PREFIX_RE = re.compile(
    r'^connection to server (?:at "(?P<host>[^"]*)"(?: \((?P<addr>[^)]*)\))?, port (?P<port>\d+)'
    r'|on socket "(?P<sock>[^"]*)") failed:\s*'
)
_SEVERITY_RE = re.compile(r"^(?:FATAL|ERROR|PANIC):\s+")
_MULTI_MARKER = "Multiple connection attempts failed. All failures were:"
_ATTEMPT_RE = re.compile(r"^- host: (?P<host>.*?), port: (?P<port>.*?), hostaddr: (?P<addr>.*?): ")


def _literal(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    return value if isinstance(value, str) else ""


def _ident(name: str) -> str:
    """Quote a name as an SQL identifier when needed (for hints only)."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


class _Attempt:
    __slots__ = ("target", "text")

    def __init__(self, target: str | None, text: str) -> None:
        self.target = target
        self.text = text


def _split_attempts(message: str) -> list[_Attempt]:
    """One entry per connection attempt psycopg reports."""
    if _MULTI_MARKER not in message:
        return [_Attempt(None, message)]
    attempts: list[_Attempt] = []
    for line in message.split(_MULTI_MARKER, 1)[1].splitlines():
        m = _ATTEMPT_RE.match(line)
        if m:
            host, port = _literal(m["host"]), _literal(m["port"])
            host = host or _literal(m["addr"])
            target = f"{_host_label(host)}:{port or '5432'}"
            attempts.append(_Attempt(target, line[m.end() :]))
        elif attempts:
            attempts[-1].text += "\n" + line
    return attempts or [_Attempt(None, message)]


def _reason_of(attempt: _Attempt) -> tuple[str | None, str, str, str | None]:
    """(target, reason line, DETAIL/HINT text, socket path) of one attempt."""
    text = _PSYCOPG_PREFIX_RE.sub("", attempt.text.strip())
    lines = text.splitlines()
    # With sslmode=prefer libpq may report two tries (SSL, then plain): keep the last.
    starts = [i for i, line in enumerate(lines) if _LIBPQ_PREFIX_RE.match(line)]
    if starts:
        lines = lines[starts[-1] :]
    first = lines[0].strip() if lines else ""
    rest = lines[1:]
    target, sock = attempt.target, None
    m = _LIBPQ_PREFIX_RE.match(first)
    if m:
        if m["sock"] is not None:
            sock = m["sock"]
            target = target or sock
        else:
            target = target or f"{_host_label(m['host'])}:{m['port']}"
        first = first[m.end() :].strip()
        if not first and rest:
            first, rest = rest[0].strip(), rest[1:]
    first = _SEVERITY_RE.sub("", first).rstrip(".")
    return target, first, "\n".join(rest), sock


def _pw_source(params: Mapping[str, Any]) -> str:
    """Where libpq took the password from: the string, the service file, PGPASSWORD, a file."""
    if params.get("password"):
        return "check the password given in the connection string"
    service = params.get("service") or os.environ.get("PGSERVICE")
    if service:
        path, values = _find_service(str(service))
        if values.get("password"):
            return f"check the password in the service file {path}"
    if os.environ.get("PGPASSWORD"):
        return "check PGPASSWORD"
    return f"check the password in {_passfile(params)} (host:port:dbname:user:password)"


def _passfile_setting(params: Mapping[str, Any]) -> tuple[str, str]:
    """(path as libpq would open it, how the user named it): passfile= (the string or the
    service file) > PGPASSFILE > ~/.pgpass."""
    given = str(params.get("passfile") or "")
    if not given:
        service = params.get("service") or os.environ.get("PGSERVICE")
        if service:
            given = _service_file_values(str(service)).get("passfile", "")
    if given:
        return given, given
    if os.environ.get("PGPASSFILE"):
        return os.environ["PGPASSFILE"], os.environ["PGPASSFILE"]
    return str(Path.home() / ".pgpass"), "~/.pgpass"


def _passfile(params: Mapping[str, Any]) -> str:
    return _passfile_setting(params)[1]


class PasswordFileProblem(NamedTuple):
    """A password file that libpq ignores (and complains about on stderr)."""

    path: str  # as libpq opens it
    shown: str  # as the user named it (~/.pgpass for the default)
    reason: str  # "permissions" or "not a file"

    def hint(self) -> str:
        name = self.shown if self.shown.startswith("~") else "the password file"
        if self.reason == "permissions":
            return f"{name} is ignored because its permissions are too open: chmod 600 {self.path}"
        return f"{name} {self.path} is ignored because it is not a plain file"


def password_file_problem(params: Mapping[str, Any]) -> PasswordFileProblem | None:
    """The password file libpq would read for ``params`` if it ignores it as unsafe.

    libpq reads the file only when no password is given (string, service file,
    PGPASSWORD); it skips a file that is not a plain file or that group or others may
    access, and says so with an fprintf to stderr — which would land on the terminal.
    """
    if params.get("password") or os.environ.get("PGPASSWORD"):
        return None
    service = params.get("service") or os.environ.get("PGSERVICE")
    if service and _service_file_values(str(service)).get("password"):
        return None
    path, shown = _passfile_setting(params)
    try:
        info = os.stat(path)
    except OSError:
        return None  # libpq ignores a missing file silently
    if not stat.S_ISREG(info.st_mode):
        return PasswordFileProblem(path, shown, "not a file")
    if os.name != "nt" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return PasswordFileProblem(path, shown, "permissions")
    return None


def _classify(
    reason: str,
    detail: str,
    *,
    where: str,
    sock: str | None,
    params: Mapping[str, Any],
    eff: Mapping[str, str],
) -> tuple[str, str, bool]:
    """(short reason, fix hint, is-a-usage-error) for one libpq/server reason."""
    low = reason.lower()
    user, db = eff.get("user", ""), eff.get("dbname", "")

    def quoted(pattern: str) -> str:
        m = re.search(pattern, reason)
        return m.group(1) if m else ""

    if "connection refused" in low:
        return "connection refused", f"is PostgreSQL running and listening on {where}?", False
    if sock and "no such file or directory" in low:
        return (
            f"no server socket {sock}",
            "is PostgreSQL running locally? If it listens elsewhere, give host= and port=",
            False,
        )
    if sock and "permission denied" in low:
        return f"no permission to use the socket {sock}", "check the socket's permissions", False
    if "timeout expired" in low:
        within = "in time"
        if eff.get("connect_timeout"):
            try:
                within = (
                    f"within {timeout_from_conninfo({'connect_timeout': eff['connect_timeout']})} s"
                )
            except (psycopg.Error, ValueError):
                within = f"within {eff['connect_timeout']} s"
        return (
            "timeout expired",
            f"the server did not answer {within}: check host, port and firewalls "
            "(raise connect_timeout to wait longer)",
            False,
        )
    if "password authentication failed" in low:
        return reason, f"{_pw_source(params)}; the role may also not exist", False
    if "no password supplied" in low:
        problem = password_file_problem(params)
        return (
            "the server asks for a password and none was given",
            problem.hint()
            if problem
            else f"set PGPASSWORD or add host:port:dbname:user:password to {_passfile(params)} "
            "(mode 0600; its host field must match host= literally)",
            False,
        )
    if re.search(r"(peer|ident) authentication failed", low):
        return (
            reason,
            "connect over TCP (e.g. host=127.0.0.1) or as the OS user of the same name",
            False,
        )
    if re.search(r'^role ".*" does not exist', reason):
        role = quoted(r'^role "(.*)" does not exist') or user
        return (
            reason,
            f"connect as an existing role (user= or PGUSER), or CREATE ROLE {_ident(role)} LOGIN",
            False,
        )
    if re.search(r'^database ".*" does not exist', reason):
        name = quoted(r'^database "(.*)" does not exist') or db
        return (
            reason,
            f"pick an existing database (dbname= or PGDATABASE), or CREATE DATABASE {_ident(name)}",
            False,
        )
    if "too many clients" in low or "remaining connection slots are reserved" in low:
        return (
            reason,
            "the server is at max_connections: close idle sessions, use a pooler, "
            "or raise max_connections",
            False,
        )
    if "too many connections for role" in low:
        role = quoted(r'for role "(.*)"') or user
        return reason, f"raise ALTER ROLE {_ident(role)} CONNECTION LIMIT", False
    if "too many connections for database" in low:
        name = quoted(r'for database "(.*)"') or db
        return reason, f"raise ALTER DATABASE {_ident(name)} CONNECTION LIMIT", False
    if "permission denied for database" in low:
        name = quoted(r'permission denied for database "(.*)"') or db
        return (
            f"{reason} (no CONNECT privilege)" if "CONNECT" in detail else reason,
            f"GRANT CONNECT ON DATABASE {_ident(name)} TO {_ident(user)}",
            False,
        )
    if "is not permitted to log in" in low:
        role = quoted(r'^role "(.*)" is not permitted') or user
        return reason, f"ALTER ROLE {_ident(role)} LOGIN", False
    if "is not currently accepting connections" in low:
        name = quoted(r'^database "(.*)" is not') or db
        return reason, f"ALTER DATABASE {_ident(name)} ALLOW_CONNECTIONS true", False
    if "no pg_hba.conf entry" in low:
        return (
            reason,
            "add a matching line to pg_hba.conf on the server, then SELECT pg_reload_conf()",
            False,
        )
    if "pg_hba.conf rejects connection" in low:
        return reason, "a reject line in the server's pg_hba.conf matches this connection", False
    if "definition of service" in low:
        service = quoted(r'definition of service "(.*)" not found')
        service = service or str(params.get("service") or os.environ.get("PGSERVICE") or "")
        return reason, _service_hint(service), False
    if low.startswith("service file") or "in service file" in low:
        return reason, "check PGSERVICEFILE and the service file's syntax", False
    if "could not translate host name" in low or low.startswith("failed to resolve host"):
        host = quoted(r'could not translate host name "(.*?)"') or quoted(
            r"failed to resolve host '(.*?)'"
        )
        return (
            f'cannot resolve host "{host}"' if host else "cannot resolve the host name",
            "check the host name (DNS, /etc/hosts)",
            False,
        )
    if "network is unreachable" in low or "no route to host" in low:
        return low, f"check the address and the network route to {where}", False
    if re.search(
        r"invalid port number|invalid integer value|could not match \d+|"
        r'invalid "?\w+"? value|invalid connection option|bad value for',
        low,
    ):
        return reason, "fix the connection parameters (and the PG* environment variables)", True
    if "server does not support ssl" in low:
        return reason, "enable ssl on the server, or connect with sslmode=prefer", False
    if "root certificate file" in low:
        return (
            reason,
            "give sslrootcert=<CA file> (or sslrootcert=system), or a weaker sslmode",
            False,
        )
    if "ssl" in low or "certificate" in low:
        return reason, "check sslmode, sslrootcert, sslcert/sslkey and the server's SSL", False
    if "the database system is" in low:
        return reason, "the server is starting, stopping or recovering: try again shortly", False
    if "server closed the connection unexpectedly" in low:
        return (
            "server closed the connection unexpectedly",
            "the server (or a proxy in between) dropped the connection: check its log",
            False,
        )
    if "no such database" in low:  # PgBouncer
        return reason, "add it to [databases] in pgbouncer.ini", False
    return reason, "", False


def _summarise(exc: BaseException, params: Mapping[str, Any]) -> tuple[str, bool]:
    eff = _effective(params)
    default_where = ", ".join(_targets(eff))
    message = str(exc)
    if isinstance(exc, PgtopError):
        return message, isinstance(exc, UsageError)

    groups: dict[str, list[str]] = {}
    hints: dict[str, str] = {}
    usage = True
    for attempt in _split_attempts(message):
        target, reason, detail, sock = _reason_of(attempt)
        if not reason:
            reason = type(exc).__name__
        where = sock or target or default_where
        short, hint, is_usage = _classify(
            reason, detail, where=where, sock=sock, params=params, eff=eff
        )
        short = _one_line(short)[:_MAX_REASON]
        usage = usage and is_usage
        groups.setdefault(short, [])
        if target and target not in groups[short]:
            groups[short].append(target)
        hints.setdefault(short, hint)

    if len(groups) == 1:
        body = next(iter(groups))
    else:
        body = "; ".join(f"{', '.join(t)}: {s}" if t else s for s, t in groups.items())
    first_short, first_targets = next(iter(groups.items()))
    hint = hints[first_short]
    if len(first_targets) > 1:
        hint = hint.replace(first_targets[0], ", ".join(first_targets))
    line = f"cannot connect to {dsn_for_display(params)}: {body}"
    if hint:
        line += f" — {hint}"
    return redact(_one_line(line), _secrets_of(params)), usage


def describe_connect_error(exc: BaseException, params: Mapping[str, Any]) -> str:
    """Condense an error raised while connecting into one line with a fix hint.

    ``cannot connect to app@127.0.0.1:1/app: connection refused — is PostgreSQL
    running and listening on 127.0.0.1:1?``. Never contains the password or the DSN.
    """
    return _summarise(exc, params)[0]


def connect_error(exc: BaseException, params: Mapping[str, Any]) -> PgtopError:
    """The error to raise for a failed connection: `UsageError` when libpq rejected a
    parameter value (bad port, sslmode …), `ConnectError` otherwise."""
    line, usage = _summarise(exc, params)
    return UsageError(line) if usage else ConnectError(line)
