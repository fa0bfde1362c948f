"""Issue 13: secret literals in query texts are masked before any layer sees them (pure tests).

A case per form and quoting, texts cut in the middle of a literal, texts without secrets kept as
the same object, and properties over random blanks, comments, keyword case and secret contents
(quotes, backslashes, ``$``, any unicode): the output is the input with the secret's characters
replaced by the mask, and nothing else changed (or, where the two ways of reading a backslash
differ, a little more masked, never less).
"""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pgtop import redact
from pgtop.collect.rows import ACTIVITY_COLUMNS, backend
from pgtop.collect.statements import TextCache
from pgtop.redact import MASK, redact_secrets

M = MASK

# --------------------------------------------------------------------------- one case per form


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CREATE / ALTER ROLE and USER, each quoting
        (
            "CREATE ROLE app LOGIN PASSWORD 'Secret'",
            f"CREATE ROLE app LOGIN PASSWORD '{M}'",
        ),
        (
            "create role app with encrypted password 'it''s' valid until 'infinity'",
            f"create role app with encrypted password '{M}' valid until 'infinity'",
        ),
        (
            "ALTER USER bob WITH PASSWORD E'a\\'b\\\\c' LOGIN",
            f"ALTER USER bob WITH PASSWORD E'{M}' LOGIN",
        ),
        ("alter user bob password e'x''y'", f"alter user bob password e'{M}'"),
        ("CREATE USER bob PASSWORD $$a'b\\c$$", f"CREATE USER bob PASSWORD $${M}$$"),
        (
            "ALTER ROLE bob PASSWORD $pw$a$$b$pw$ NOLOGIN",
            f"ALTER ROLE bob PASSWORD $pw${M}$pw$ NOLOGIN",
        ),
        (
            "ALTER ROLE bob UNENCRYPTED PASSWORD U&'d\\0061t'",
            f"ALTER ROLE bob UNENCRYPTED PASSWORD U&'{M}'",
        ),
        ("ALTER ROLE bob PASSWORD ''", f"ALTER ROLE bob PASSWORD '{M}'"),
        (  # an escaped key, a U&'' one
            "SELECT dblink_connect(E'pass\\x77ord=p', U&'\\0070assword=q')",
            f"SELECT dblink_connect(E'pass\\x77ord={M}', U&'\\0070assword={M}')",
        ),
        ("ALTER ROLE bob PASSWORD NULL", "ALTER ROLE bob PASSWORD NULL"),
        ("ALTER ROLE bob PaSsWoRd\n\t 'x'", f"ALTER ROLE bob PaSsWoRd\n\t '{M}'"),
        (
            "ALTER ROLE bob PASSWORD /* the new one */ -- really\n 'x' VALID UNTIL '2030-01-01'",
            f"ALTER ROLE bob PASSWORD /* the new one */ -- really\n '{M}' VALID UNTIL '2030-01-01'",
        ),
        (
            # as psql's \password sends it
            "ALTER USER bob PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy'",
            f"ALTER USER bob PASSWORD '{M}'",
        ),
        # postgres_fdw user mappings, servers
        (
            "CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password 'pw')",
            f"CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password '{M}')",
        ),
        (
            "ALTER USER MAPPING FOR b SERVER s OPTIONS (SET password 'a', ADD \"Passwd\" 'b')",
            f"ALTER USER MAPPING FOR b SERVER s OPTIONS (SET password '{M}', ADD \"Passwd\" '{M}')",
        ),
        (
            "ALTER USER MAPPING FOR bob SERVER s OPTIONS (ADD PASSWORD $$x$$, DROP user)",
            f"ALTER USER MAPPING FOR bob SERVER s OPTIONS (ADD PASSWORD $${M}$$, DROP user)",
        ),
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h', password 'p', port '5')",
            f"CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h', password '{M}', port '5')",
        ),
        (
            "ALTER SERVER s OPTIONS (ADD password_required 'false', sslpassword 'k')",
            f"ALTER SERVER s OPTIONS (ADD password_required 'false', sslpassword '{M}')",
        ),
        # conninfo key=value: dblink, subscriptions
        (
            "SELECT dblink_connect('c', 'host=h password=sec dbname=x')",
            f"SELECT dblink_connect('c', 'host=h password={M} dbname=x')",
        ),
        (
            "SELECT * FROM dblink('dbname=x password = se\\ c\\\\r port=5', 'SELECT 1')",
            f"SELECT * FROM dblink('dbname=x password = {M} port=5', 'SELECT 1')",
        ),
        (
            "SELECT dblink_exec('password=p1', 'ALTER ROLE r PASSWORD ''p2''')",
            f"SELECT dblink_exec('password={M}', 'ALTER ROLE r PASSWORD ''{M}''')",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'host=h password=''se cret''' PUBLICATION p",
            f"CREATE SUBSCRIPTION s CONNECTION 'host=h password=''{M}''' PUBLICATION p",
        ),
        (
            "ALTER SUBSCRIPTION s CONNECTION E'host=h password=\\'a\\\\\\' b\\' port=5'",
            f"ALTER SUBSCRIPTION s CONNECTION E'host=h password=\\'{M}\\' port=5'",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION $c$user=r sslpassword=k password=p$c$",
            f"CREATE SUBSCRIPTION s CONNECTION $c$user=r sslpassword={M} password={M}$c$",
        ),
        (
            "ALTER SYSTEM SET primary_conninfo = 'host=h password=p application_name=r'",
            f"ALTER SYSTEM SET primary_conninfo = 'host=h password={M} application_name=r'",
        ),
        # URIs
        (
            "SELECT dblink_connect('postgresql://u:p%40ss@h:5432/db')",
            f"SELECT dblink_connect('postgresql://u:{M}@h:5432/db')",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'postgres://u@h/db?sslmode=require&password=p&x=1'"
            " PUBLICATION p",
            f"CREATE SUBSCRIPTION s CONNECTION 'postgres://u@h/db?sslmode=require&password={M}&x=1'"
            " PUBLICATION p",
        ),
        (
            "SELECT dblink('POSTGRESQL://u:p@h1:1,h2:2/db?password=q', 'SELECT 1')",
            f"SELECT dblink('POSTGRESQL://u:{M}@h1:1,h2:2/db?password={M}', 'SELECT 1')",
        ),
        # nested: a DO body, an EXECUTE string
        (
            "DO $$BEGIN PERFORM dblink_connect('host=h password=secret');"
            " PERFORM dblink_exec('c', 'ALTER ROLE r PASSWORD ''s2'''); END$$",
            f"DO $$BEGIN PERFORM dblink_connect('host=h password={M}');"
            f" PERFORM dblink_exec('c', 'ALTER ROLE r PASSWORD ''{M}'''); END$$",
        ),
        (
            "DO $do$ BEGIN EXECUTE format('CREATE ROLE %I PASSWORD %L', 'r', 'lit'); END $do$",
            "DO $do$ BEGIN EXECUTE format('CREATE ROLE %I PASSWORD %L', 'r', 'lit'); END $do$",
        ),
        (
            "DO $$ DECLARE password text; BEGIN password := 'p'; END $$",
            f"DO $$ DECLARE password text; BEGIN password := '{M}'; END $$",
        ),
        # the multi-statement text a client sends in one message
        (
            "SELECT pg_sleep(1); CREATE ROLE r PASSWORD 'a'; CREATE ROLE s PASSWORD 'b'",
            f"SELECT pg_sleep(1); CREATE ROLE r PASSWORD '{M}'; CREATE ROLE s PASSWORD '{M}'",
        ),
        # comments
        ("SELECT 1 /* password=p */", f"SELECT 1 /* password={M} */"),
        ("SELECT 1 -- see postgresql://u:p@h/db\n", f"SELECT 1 -- see postgresql://u:{M}@h/db\n"),
    ],
)
def test_each_form_is_masked_and_the_rest_kept(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1",
        "",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        "SELECT * FROM users WHERE password = $1",  # a parameter: nothing to mask
        "SELECT password_hash FROM users WHERE login = 'bob'",
        "SET password_encryption = 'scram-sha-256'",
        "SELECT 'password', 'https://example.com/x'",  # a word, a URI without user:password
        "ALTER ROLE bob PASSWORD NULL",
        "<insufficient privilege>",
        "SELECT 'é \u202e \x1b[31m' /* passw */",
    ],
)
def test_texts_without_secrets_are_the_same_object(text: str) -> None:
    assert redact_secrets(text) is text


# --------------------------------------------------------------------------- cut texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CREATE ROLE r PASSWORD 'secr", f"CREATE ROLE r PASSWORD '{M}"),
        ("CREATE ROLE r PASSWORD E'se\\", f"CREATE ROLE r PASSWORD E'{M}"),
        ("CREATE ROLE r PASSWORD $x$sec", f"CREATE ROLE r PASSWORD $x${M}"),
        ("CREATE ROLE r PASSWORD 'it''", f"CREATE ROLE r PASSWORD '{M}"),
        ("CREATE ROLE r PASSWORD ", "CREATE ROLE r PASSWORD "),
        ("CREATE ROLE r PASSW", "CREATE ROLE r PASSW"),
        (
            "SELECT dblink_connect('host=h password=sec",
            f"SELECT dblink_connect('host=h password={M}",
        ),
        (
            "SELECT dblink_connect('host=h password=''se",
            f"SELECT dblink_connect('host=h password=''{M}",
        ),
        (
            "SELECT dblink_connect('postgresql://u:secr",
            f"SELECT dblink_connect('postgresql://u:{M}",
        ),
        (
            "SELECT dblink_connect('postgresql://u:s@h",
            f"SELECT dblink_connect('postgresql://u:{M}@h",
        ),
        ("SELECT 1 -- postgresql://u:sec", f"SELECT 1 -- postgresql://u:{M}"),
    ],
)
def test_a_literal_cut_short_is_masked_to_the_end(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_every_cut_inside_a_long_secret_masks_what_is_there() -> None:
    head = "SELECT pg_sleep(30); CREATE ROLE r LOGIN PASSWORD '"
    full = head + "x" * 300 + "' VALID UNTIL 'infinity'"
    for cut in range(len(head) + 1, len(head) + 301):
        assert redact_secrets(full[:cut]) == head + M


def test_text_cache_masks_and_masks_a_cut_literal_to_the_end() -> None:
    cache = TextCache(max_chars=40)
    cache.put((10, 5, 1), "CREATE ROLE r PASSWORD 'short'")
    cache.put((10, 5, 2), "CREATE ROLE r PASSWORD '" + "s" * 100 + "'")
    assert cache.get((10, 5, 1)) == f"CREATE ROLE r PASSWORD '{M}'"
    assert cache.get((10, 5, 2)) == f"CREATE ROLE r PASSWORD '{M} …"


def test_activity_rows_are_masked_at_the_boundary() -> None:
    row = dict.fromkeys(ACTIVITY_COLUMNS)
    row.update(
        pid=42, application="psql", backend_type="client backend", query="ALTER ROLE r PASSWORD 'p'"
    )
    assert backend(tuple(row[c] for c in ACTIVITY_COLUMNS)).query == f"ALTER ROLE r PASSWORD '{M}'"


# --------------------------------------------------------------------------- never raises


def test_a_parser_failure_cuts_the_text_at_the_first_possible_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> list[tuple[int, int]]:
        raise IndexError("a bug")

    monkeypatch.setattr(redact, "_spans", broken)
    text = "CREATE ROLE r PASSWORD 'p' -- failure path"
    assert redact._redact(text) == f"CREATE ROLE r {M}"
    assert redact._redact("SELECT dblink('postgres://u:p@h')") == f"SELECT dblink('postgres{M}"
    # "İ".lower() is two characters: positions come from the text itself
    assert redact._redact("SELECT 'İİİİ' PASSWORD 'p'") == f"SELECT 'İİİİ' {M}"
    assert redact._redact("SELECT E'\\x70assword=p'") == f"SELECT E'{M}"


SQLISH = st.lists(
    st.sampled_from(
        [
            "password",
            "PassWd",
            "'",
            "''",
            "E'",
            "e'",
            "\\",
            "$",
            "$$",
            "$a$",
            "/*",
            "*/",
            "--",
            "\n",
            " ",
            "\t",
            "=",
            "=>",
            ":=",
            "://",
            "@",
            ":",
            "?",
            "&",
            "/",
            '"',
            "x",
            "é",
            "\x00",
        ]
    ),
    max_size=60,
).map("".join)


@given(st.one_of(st.text(max_size=200), SQLISH))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises_and_masks_only_by_replacing(text: str) -> None:
    out = redact_secrets(text)
    assert isinstance(out, str)
    if out is not text:
        # whatever was kept is kept in order: the output is the input with runs replaced
        pieces = out.split(M)
        at = 0
        for piece in pieces:
            found = text.find(piece, at)
            assert found >= 0
            at = found + len(piece)


def test_pathological_texts_stay_linear() -> None:
    # no timing assertion (a loaded machine): these would take minutes if quadratic
    for text in (
        "password=" * 20_000,
        "password '" * 20_000,
        "password 'a\\' " * 20_000,
        "/*" * 20_000 + "*/",
        "://" * 30_000 + "a:b",
        "".join(f"$t{i}$" for i in range(2_000)) + "password 'x'",
        "'" * 100_001 + "password",
    ):
        assert isinstance(redact_secrets(text), str)


# --------------------------------------------------------------------------- properties

BLANKS = st.text(alphabet=" \t\n\r", min_size=1, max_size=4)
COMMENTS = st.sampled_from(["", "/* note */", "/* a /* nested */ one */", "-- note\n"])
TAGS = st.sampled_from(["", "pw", "_x1", "T"])
SECRETS = st.text(max_size=24)


@st.composite
def separators(draw: st.DrawFn) -> str:
    """Blanks and comments, at least one blank (``PASSWORDE'x'`` is another word)."""
    return draw(BLANKS) + draw(COMMENTS) + draw(st.text(alphabet=" \t\n", max_size=2))


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda ups: "".join(c.upper() if up else c.lower() for c, up in zip(word, ups, strict=True))
    )


def sql_literal(draw: st.DrawFn, value: str) -> tuple[str, list[tuple[str, str]], str]:
    """``value`` as a SQL literal: opening, (character, as written) pairs, closing."""
    style = draw(st.sampled_from(["plain", "escape", "dollar"]))
    if style == "plain":
        return "'", [(c, "''" if c == "'" else c) for c in value], "'"
    if style == "escape":
        pairs = []
        for c in value:
            if c == "'":
                pairs.append((c, draw(st.sampled_from(["''", "\\'"]))))
            elif c == "\\":
                pairs.append((c, "\\\\"))
            elif c.isascii() and c.isalnum() and draw(st.booleans()):
                pairs.append((c, f"\\x{ord(c):02x}"))
            else:
                pairs.append((c, c))
        return draw(st.sampled_from(["E'", "e'"])), pairs, "'"
    delimiter = f"${draw(TAGS)}$"
    assume((value + delimiter).find(delimiter) == len(value))
    return delimiter, [(c, c) for c in value], delimiter


def written(pairs: list[tuple[str, str]]) -> str:
    return "".join(w for _, w in pairs)


def test_a_backslash_in_a_plain_literal_masks_as_far_as_an_escape_string_would() -> None:
    # with standard_conforming_strings off, \' does not close the literal: mask to where the
    # E'…' reading closes it (here, the quote before infinity)
    text = "ALTER ROLE r PASSWORD 'a\\' VALID UNTIL 'infinity'"
    assert redact_secrets(text) == f"ALTER ROLE r PASSWORD '{M}'infinity'"


@given(data=st.data(), secret=SECRETS)
@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
def test_property_password_literal(data: st.DataObject, secret: str) -> None:
    draw = data.draw
    head = draw(
        st.sampled_from(
            [
                "CREATE ROLE app LOGIN",
                'ALTER USER "App" WITH',
                "CREATE USER app",
                "SELECT pg_sleep(30);\nALTER ROLE app",
                "ALTER USER MAPPING FOR app SERVER s OPTIONS (SET",
            ]
        )
    )
    keyword = draw(any_case(draw(st.sampled_from(["password", "encrypted password", "passwd"]))))
    opening, pairs, closing = sql_literal(draw, secret)
    tail = draw(st.sampled_from(["", " VALID UNTIL 'infinity'", " LOGIN", ";\nSELECT 1", ")"]))
    before = head + draw(separators()) + keyword + draw(separators()) + opening
    text = before + written(pairs) + closing + tail
    out = redact_secrets(text)
    assert out.startswith(before + M)
    rest = out[len(before) + len(M) :]
    assert (closing + tail).endswith(rest)  # only the literal's own text is gone …
    if not (opening == "'" and "\\" in secret):
        assert rest == closing + tail  # … exactly (a backslash in '…' may mask a bit more)


def conninfo_value(draw: st.DrawFn, secret: str) -> tuple[str, str, str]:
    """``secret`` as a libpq conninfo value: (as written, opening, closing) of the value."""
    if draw(st.booleans()) and secret:
        out = []
        for i, c in enumerate(secret):
            escape = c == "\\" or c.isspace() or (i == 0 and c == "'")
            out.append("\\" + c if escape else c)
        return "".join(out), "", ""
    return "".join("\\" + c if c in "'\\" else c for c in secret), "'", "'"


@given(data=st.data(), secret=SECRETS)
@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
def test_property_conninfo_password(data: st.DataObject, secret: str) -> None:
    draw = data.draw
    value, v_open, v_close = conninfo_value(draw, secret)
    equals = draw(st.sampled_from(["=", " = ", "=\t"]))
    conn_before = draw(st.sampled_from(["", "host=127.0.0.1 port=5432 ", "dbname='my db' "]))
    conn_after = draw(st.sampled_from(["", " dbname=app", " user=rep application_name=sub"]))
    key = draw(st.sampled_from(["password", "sslpassword"]))
    conninfo_head = conn_before + key + equals + v_open
    conninfo_tail = v_close + conn_after
    opening, pairs, closing = sql_literal(draw, conninfo_head + value + conninfo_tail)
    statement = draw(
        st.sampled_from(
            [
                ("CREATE SUBSCRIPTION s CONNECTION ", " PUBLICATION p WITH (connect = false)"),
                ("ALTER SUBSCRIPTION s CONNECTION ", ""),
                ("SELECT dblink_connect('c', ", ")"),
                ("SELECT pg_sleep(30); SELECT * FROM dblink(", ", 'SELECT 1') AS t(i int)"),
            ]
        )
    )
    n_head, n_value = len(conninfo_head), len(value)
    before = statement[0] + opening + written(pairs[:n_head])
    after = written(pairs[n_head + n_value :]) + closing + statement[1]
    text = before + written(pairs[n_head : n_head + n_value]) + after
    out = redact_secrets(text)
    assert out.startswith(before + M)
    rest = out[len(before) + len(M) :]
    assert after.endswith(rest)
    assert out.endswith(closing + statement[1])  # the statement after the literal is kept
    if not set(secret) & set("'\\$\"-/*"):
        assert rest == after


@given(data=st.data(), secret=SECRETS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_property_uri_password(data: st.DataObject, secret: str) -> None:
    draw = data.draw
    encoded = quote(secret, safe=draw(st.sampled_from(["", "!*+,;=", "$"])))
    scheme = draw(any_case(draw(st.sampled_from(["postgresql", "postgres"]))))
    as_parameter = draw(st.booleans())
    if as_parameter:
        prefix = f"{scheme}://rep@h:5432/app?sslmode=require&password="
        suffix = draw(st.sampled_from(["", "&application_name=x"]))
    else:
        prefix = f"{scheme}://rep:"
        suffix = "@" + draw(st.sampled_from(["h", "h1:1,h2:2", "[::1]:5432"])) + "/app"
    opening, pairs, closing = sql_literal(draw, prefix + encoded + suffix)
    head, tail = draw(
        st.sampled_from([("ALTER SUBSCRIPTION s CONNECTION ", ""), ("SELECT dblink_connect(", ")")])
    )
    before = head + opening + written(pairs[: len(prefix)])
    after = written(pairs[len(prefix) + len(encoded) :]) + closing + tail
    text = before + written(pairs[len(prefix) : len(prefix) + len(encoded)]) + after
    assert redact_secrets(text) == before + M + after


@given(data=st.data(), secret=st.text(min_size=2, max_size=24))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_property_cut_inside_the_secret(data: st.DataObject, secret: str) -> None:
    draw = data.draw
    kind = draw(st.sampled_from(["keyword", "conninfo", "uri"]))
    if kind == "keyword":
        opening, pairs, _closing = sql_literal(draw, secret)
        before = "SELECT pg_sleep(30); CREATE ROLE r PASSWORD " + opening
        body = written(pairs)
    elif kind == "conninfo":
        value, v_open, _ = conninfo_value(draw, secret)
        head = "host=h password=" + v_open
        opening, pairs, _closing = sql_literal(draw, head + value)
        before = "SELECT dblink_connect(" + opening + written(pairs[: len(head)])
        body = written(pairs[len(head) :])
    else:
        head = "postgresql://rep:"
        opening, pairs, _closing = sql_literal(draw, head + quote(secret, safe=""))
        before = "SELECT dblink_connect(" + opening + written(pairs[: len(head)])
        body = written(pairs[len(head) :])
    cut = draw(st.integers(1, len(body)))
    out = redact_secrets(before + body[:cut])
    assert out.startswith(before + M)
    assert out[len(before) + len(M) :].strip("'") == ""  # at most a quote that looked closing


# --------------------------------------------------------------------------- the cheap path


def test_plain_texts_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(redact, "_redact_cached", lambda t: calls.append(t) or t)
    for text in ("SELECT 1", "UPDATE t SET v = $1", string.printable.replace(":", "")):
        assert redact_secrets(text) is text
    assert calls == []
    redact_secrets("ALTER ROLE r PASSWORD 'x'")
    redact_secrets("SELECT 'postgresql://h/db'")
    assert len(calls) == 2
