"""pgtop.conninfo against the real libpq: parse errors, real failed connections, messages."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtop.conninfo import (
    ConnectError,
    PgtopError,
    UsageError,
    connect_error,
    connect_kwargs,
    describe_connect_error,
    dsn_for_display,
    parse_dsn,
    redact,
)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No PG* variable, .pgpass or service file of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "no-service-file"))
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path / "no-sysconfdir"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def try_connect(dsn: str, *, timeout: int = 3) -> tuple[PgtopError, dict[str, str]]:
    params = parse_dsn(dsn)
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(**connect_kwargs(params, connect_timeout=timeout)).close()
    return connect_error(info.value, params), params


def assert_clean(err: PgtopError, *secrets: str) -> str:
    text = str(err)
    assert "\n" not in text
    assert text == text.strip()
    for secret in secrets:
        assert secret not in text
    return text


# --------------------------------------------------------------------------- errors


def test_error_classes_are_one_line_with_exit_codes() -> None:
    err = PgtopError("first\n\tsecond  line\n")
    assert str(err) == "first second line"
    assert err.exit_code == 1
    assert UsageError("x").exit_code == 2
    assert ConnectError("x").exit_code == 1
    assert PgtopError("x", exit_code=3).exit_code == 3
    assert isinstance(UsageError("x"), PgtopError)
    assert isinstance(ConnectError("x"), PgtopError)


# --------------------------------------------------------------------------- parse_dsn


@pytest.mark.parametrize("dsn", [None, "", "   "])
def test_empty_dsn_leaves_everything_to_libpq(dsn: str | None) -> None:
    assert parse_dsn(dsn) == {}


def test_parse_uri_and_key_value_and_bare_name() -> None:
    assert parse_dsn("postgresql://app:pw@127.0.0.1:5432/app?sslmode=disable") == {
        "user": "app",
        "password": "pw",
        "host": "127.0.0.1",
        "port": "5432",
        "dbname": "app",
        "sslmode": "disable",
    }
    assert parse_dsn("postgres://h1:5432,h2:5433/db")["port"] == "5432,5433"
    assert parse_dsn("host=h port=6432 dbname='my db'") == {
        "host": "h",
        "port": "6432",
        "dbname": "my db",
    }
    assert parse_dsn("host=a,b port=5432,") == {"host": "a,b", "port": "5432,"}
    assert parse_dsn("mydb") == {"dbname": "mydb"}  # as psql does


@pytest.mark.parametrize(
    ("dsn", "secret", "expect"),
    [
        ("postgresql://u:s3cr%ZZet@h/db", "s3cr", "percent-encoding"),
        ("postgresql://h/db?password=x%ZZyy", "ZZyy", "percent-encoding"),
        ("postgresql://u:p%00ssw@h/db", "ssw", "%00"),
        ("host=h password='unterminated", "unterminated", "no closing '"),
        ("postgresql://u:pw@h:abc/db", "pw", 'port "abc" is not a number'),
        ("port=abc", "\n", 'port "abc" is not a number'),
        ("port=99999", "\n", "out of range"),
        ("postgresql://u:pw@h:0/db", "pw", "out of range"),
        ("host=h1,h2 port=5432,abc password=s3cret", "s3cret", 'port "abc"'),
        ("postgresql://u:pw@h1:5432,h2:99999/db", "pw", "out of range"),
        ("host=a,b port=1,2,3", "\n", "3 ports for 2 hosts"),
        ("host=h password=s3cret junk", "s3cret", 'missing "="'),
        ("host=h password=s3cret junk", "junk", 'missing "="'),
        ("host=h password=s3 cret", "cret", 'missing "="'),
        ("password=s3cret sslmod=x", "sslmod", "unknown connection option"),
        ("host= password=s3cret", "s3cret", "host= has no value"),
        ("postgresql://u:pa/ss@h/db", "ss@", "percent-encode"),
        ("postgresql://u:p@zzw0rd@h/db", "zzw0rd", "percent-encode"),
        ("postgresql://u:my secret@h/db", "secret", "%20"),
        ("postgresql://u:pw@h/db?mypassword=x", "mypassword", "unknown URI query parameter"),
        ("connect_timeout=1.5 password=s3cret", "s3cret", "connect_timeout"),
        ("postgresql://[::1/db", "\n", "IPv6"),
    ],
)
def test_malformed_dsn_is_a_clean_usage_error(dsn: str, secret: str, expect: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_dsn(dsn)
    err = info.value
    text = assert_clean(err, secret)
    assert err.exit_code == 2
    assert text.startswith("invalid connection string: ")
    assert expect in text
    # libpq's message (which quotes the input) is not kept anywhere on the exception.
    assert err.__context__ is None
    assert err.__cause__ is None
    assert all(secret not in str(arg) for arg in err.args)


def test_fragments_are_quoted_only_without_password_like_input() -> None:
    with pytest.raises(UsageError, match='missing "=" after "junk"'):
        parse_dsn("host=h junk")
    with pytest.raises(UsageError, match='unknown connection option "sslmod"'):
        parse_dsn("host=h sslmod=x")
    with pytest.raises(UsageError, match='unknown URI query parameter "foo"'):
        parse_dsn("postgresql://h/db?foo=bar")


# --------------------------------------------------------------------------- display


def test_redact() -> None:
    assert redact("user p@ss pw p%40ss", ["p@ss", ""]) == "user *** pw ***"
    assert redact("abcabc", ["abc", "abcabc"]) == "***"
    assert redact("nothing", []) == "nothing"


def test_dsn_for_display(monkeypatch: pytest.MonkeyPatch) -> None:
    params = parse_dsn("postgresql://app:s3cret@127.0.0.1:5432/app")
    assert dsn_for_display(params) == "app@127.0.0.1:5432/app"
    assert dsn_for_display(parse_dsn("host=::1 port=6000 user=u dbname=d")) == "u@[::1]:6000/d"
    assert (
        dsn_for_display(parse_dsn("host=h1,h2 port=1,2 user=u dbname=d password=s3cret"))
        == "u@h1:1,h2:2/d"
    )
    assert dsn_for_display(parse_dsn("host=/run/pg user=u")) == "u@[local:/run/pg]:5432/u"
    # A password equal to another part is still never shown.
    assert "hunter2" not in dsn_for_display({"user": "hunter2", "password": "hunter2"})

    monkeypatch.setenv("PGUSER", "envuser")
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGPORT", "6543")
    monkeypatch.setenv("PGDATABASE", "envdb")
    assert dsn_for_display({}) == "envuser@envhost:6543/envdb"
    assert dsn_for_display({"user": "u"}) == "u@envhost:6543/envdb"
    monkeypatch.delenv("PGHOST")
    monkeypatch.delenv("PGDATABASE")
    assert dsn_for_display({}) == "envuser@[local]:6543/envuser"


def test_dsn_for_display_reads_the_service_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[other]\nhost=10.0.0.1\n[mine]\nhost=db1\nport=6000\nuser=svc\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    assert dsn_for_display(parse_dsn("service=mine dbname=x")) == 'svc@db1:6000/x (service "mine")'


# --------------------------------------------------------------------------- connect_kwargs


def test_connect_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    params = parse_dsn("host=h password=s3cret")
    kwargs = connect_kwargs(params, application_name="pgtop", connect_timeout=5)
    assert kwargs == {
        "host": "h",
        "password": "s3cret",
        "application_name": "pgtop",
        "connect_timeout": 5,
    }
    assert params == {"host": "h", "password": "s3cret"}  # not modified

    given = parse_dsn("host=h application_name=mine connect_timeout=7")
    assert connect_kwargs(given, application_name="pgtop", connect_timeout=5) == given

    monkeypatch.setenv("PGAPPNAME", "fromenv")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "9")
    kwargs = connect_kwargs({}, application_name="pgtop", connect_timeout=5)
    assert kwargs == {"fallback_application_name": "pgtop"}


# --------------------------------------------------------------------------- real failures


def test_connection_refused() -> None:
    port = free_port()
    err, _ = try_connect(f"host=127.0.0.1 port={port} user=app dbname=app password=s3cret")
    assert isinstance(err, ConnectError)
    assert err.exit_code == 1
    text = assert_clean(err, "s3cret", "password")
    assert text == (
        f"cannot connect to app@127.0.0.1:{port}/app: connection refused"
        f" — is PostgreSQL running and listening on 127.0.0.1:{port}?"
    )


def test_uri_with_password_refused() -> None:
    port = free_port()
    err, _ = try_connect(f"postgresql://nobody:secret@127.0.0.1:{port}/x")
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "secret", "postgresql://")
    assert "127.0.0.1" in text
    assert text.startswith(f"cannot connect to nobody@127.0.0.1:{port}/x: connection refused")


def test_all_hosts_refused() -> None:
    p1, p2 = free_port(), free_port()
    err, _ = try_connect(f"host=127.0.0.1,127.0.0.1 port={p1},{p2} password=s3cret user=u")
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "s3cret", "Multiple", "Is the server")
    assert f"127.0.0.1:{p1}" in text
    assert f"127.0.0.1:{p2}" in text
    assert "connection refused" in text


def test_timeout(silent_server: int) -> None:
    started = time.monotonic()
    err, _ = try_connect(f"host=127.0.0.1 port={silent_server} connect_timeout=1 password=s3cret")
    assert time.monotonic() - started < 3
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "s3cret")
    assert "timeout expired" in text
    assert "within 2 s" in text  # libpq and psycopg wait at least 2 s


def test_unresolvable_host() -> None:
    err, _ = try_connect("postgresql://u:s3cret@nonexistent.invalid/db")
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "s3cret")
    assert 'cannot resolve host "nonexistent.invalid"' in text


def test_unknown_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[other]\nhost=127.0.0.1\nport=1\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    err, _ = try_connect("service=nope password=s3cret")
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "s3cret")
    assert 'definition of service "nope" not found' in text
    assert str(service_file) in text


def test_missing_socket(tmp_path: Path) -> None:
    err, _ = try_connect(f"host={tmp_path} port=5999 password=s3cret")
    assert isinstance(err, ConnectError)
    text = assert_clean(err, "s3cret")
    assert f"no server socket {tmp_path}/.s.PGSQL.5999" in text


def test_bad_parameter_value_found_at_connect_is_a_usage_error() -> None:
    err, _ = try_connect(f"host=127.0.0.1 port={free_port()} sslmode=bogus password=s3cret")
    assert isinstance(err, UsageError)
    text = assert_clean(err, "s3cret")
    assert 'invalid sslmode value: "bogus"' in text


def test_bad_pgport_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPORT", "abc")
    err, _ = try_connect("host=127.0.0.1 password=s3cret")
    assert isinstance(err, UsageError)
    assert_clean(err, "s3cret")


# --------------------------------------------------------------------------- known texts

_AT = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: '


@pytest.mark.parametrize(
    ("message", "reason", "hint"),
    [
        (
            _AT + 'FATAL:  password authentication failed for user "app"',
            'password authentication failed for user "app"',
            "check the password given in the connection string",
        ),
        (
            _AT + "fe_sendauth: no password supplied",
            "the server asks for a password and none was given",
            "PGPASSWORD",
        ),
        (
            _AT + 'FATAL:  role "app" does not exist',
            'role "app" does not exist',
            "CREATE ROLE app LOGIN",
        ),
        (
            _AT + 'FATAL:  database "app" does not exist',
            'database "app" does not exist',
            "CREATE DATABASE app",
        ),
        (
            _AT + "FATAL:  sorry, too many clients already",
            "sorry, too many clients already",
            "max_connections",
        ),
        (
            _AT + "FATAL:  remaining connection slots are reserved for roles with the "
            "SUPERUSER attribute",
            "remaining connection slots are reserved",
            "max_connections",
        ),
        (
            _AT + 'FATAL:  permission denied for database "app"\n'
            "DETAIL:  User does not have CONNECT privilege.",
            'permission denied for database "app" (no CONNECT privilege)',
            "GRANT CONNECT ON DATABASE app TO app",
        ),
        (
            _AT + 'FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", '
            'database "app", no encryption',
            "no pg_hba.conf entry",
            "pg_hba.conf",
        ),
        (
            _AT + "server does not support SSL, but SSL was required",
            "server does not support SSL",
            "sslmode",
        ),
        (
            _AT + "SSL error: certificate verify failed",
            "SSL error: certificate verify failed",
            "sslrootcert",
        ),
        (
            _AT + "FATAL:  the database system is starting up",
            "the database system is starting up",
            "try again",
        ),
        (
            _AT + "server closed the connection unexpectedly\n\tThis probably means the "
            "server terminated abnormally\n\tbefore or while processing the request.",
            "server closed the connection unexpectedly",
            "log",
        ),
    ],
)
def test_known_server_messages(message: str, reason: str, hint: str) -> None:
    params = {"host": "10.0.0.5", "user": "app", "dbname": "app", "password": "s3cret"}
    text = describe_connect_error(psycopg.OperationalError(message), params)
    assert "\n" not in text
    assert "s3cret" not in text
    assert text.startswith(f"cannot connect to app@10.0.0.5:5432/app: {reason}")
    assert " — " in text
    assert hint in text
    assert "DETAIL" not in text
    assert "This probably means" not in text


def test_sslmode_prefer_double_report_keeps_the_last_try() -> None:
    message = (
        _AT + 'FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "u", database "d", '
        "SSL encryption\n"
        'connection to server at "10.0.0.5", port 5432 failed: FATAL:  no pg_hba.conf entry '
        'for host "1.2.3.4", user "u", database "d", no encryption'
    )
    text = describe_connect_error(psycopg.OperationalError(message), {"host": "10.0.0.5"})
    assert "no encryption" in text
    assert "SSL encryption" not in text


def test_describe_passes_pgtop_errors_through() -> None:
    err = connect_error(ConnectError("already\nclean"), {})
    assert isinstance(err, ConnectError)
    assert str(err) == "already clean"
