"""The subset of JQL a sync needs, evaluated the way Jira Cloud does.

Supported: `project`, `key`/`issuekey`, `id`, `updated`, `created` with = != > >= < <= and (NOT) IN;
AND, OR and parentheses; ORDER BY. Date values may be quoted literals ("yyyy-MM-dd HH:mm",
"yyyy/MM/dd", ...) which Jira reads in the *requesting account's time zone*, epoch milliseconds, or
relative periods (-15m, -2h, -1d, -1w). A query with no restriction is refused as unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

TOKEN = re.compile(
    r"\s*(?:(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z0-9_.\-+:/]+))"
)
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
PERIOD = re.compile(r"^([-+]?)(\d+)([mhdw])$")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
FIELDS = {"project", "key", "issuekey", "id", "updated", "created"}
Issue = dict[str, Any]


class JqlError(ValueError):
    """A query Jira would answer with 400."""


@dataclass
class Query:
    matches: Callable[[Issue], bool]
    order: list[tuple[str, bool]]  # (field, descending)
    bounded: bool
    projects: set[str] | None = None  # when every match must be in these projects: only they need scanning


class Parser:
    def __init__(self, text: str, zone: str, now: float, project_keys: dict[str, str]) -> None:
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.zone = ZoneInfo(zone)
        self.now = now
        self.project_keys = project_keys  # key -> id
        self.projects: set[str] | None = None
        self.alternatives = False

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise JqlError(
                    f"Error in the JQL Query: The character '{text[pos:].strip()[:1]}' is a reserved "
                    f"JQL character. (line 1, character {pos + 1})"
                )
            tokens.append(match.group(match.lastgroup))
            pos = match.end()
        return tokens

    def peek(self, upper: bool = True) -> str | None:
        if self.pos >= len(self.tokens):
            return None
        token = self.tokens[self.pos]
        return token.upper() if upper else token

    def take(self) -> str:
        token = self.peek(upper=False)
        if token is None:
            raise JqlError("Error in the JQL Query: Expecting more input at the end of the query.")
        self.pos += 1
        return token

    def parse(self) -> Query:
        matches: Callable[[Issue], bool] = lambda issue: True  # noqa: E731
        bounded = False
        if self.peek() not in (None, "ORDER"):
            matches, bounded = self.parse_or(), True
        order = []
        if self.peek() == "ORDER":
            self.take()
            if self.peek() != "BY":
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            self.take()
            while True:
                name = self.take().lower()
                descending = False
                if self.peek() in ("ASC", "DESC"):
                    descending = self.take().upper() == "DESC"
                order.append((name, descending))
                if self.peek() != ",":
                    break
                self.take()
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{self.take()}'.")
        return Query(matches, order, bounded, None if self.alternatives else self.projects)

    def parse_or(self) -> Callable[[Issue], bool]:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.alternatives = True
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else lambda issue: any(p(issue) for p in parts)

    def parse_and(self) -> Callable[[Issue], bool]:
        parts = [self.parse_term()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.parse_term())
        return parts[0] if len(parts) == 1 else lambda issue: all(p(issue) for p in parts)

    def parse_term(self) -> Callable[[Issue], bool]:
        if self.peek() == "(":
            self.take()
            inner = self.parse_or()
            if self.take() != ")":
                raise JqlError("Error in the JQL Query: Expecting ')'.")
            return inner
        name = self.take().lower()
        if name not in FIELDS:
            raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
        op = self.take().upper()
        if op == "NOT" and self.peek() == "IN":
            self.take()
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            values = self.parse_list(name)
            if name == "project" and op == "IN":
                self.narrow({str(v) for v in values})
            inside = lambda issue: self.value_of(name, issue) in values  # noqa: E731
            return inside if op == "IN" else lambda issue: not inside(issue)
        if op not in ("=", "!=", ">", ">=", "<", "<="):
            raise JqlError(f"Error in the JQL Query: unsupported operator '{op}'.")
        value = self.convert(name, self.take())
        if name == "project" and op == "=":
            self.narrow({str(value)})
        return compare(op, lambda issue: self.value_of(name, issue), value)

    def narrow(self, projects: set[str]) -> None:
        self.projects = projects if self.projects is None else self.projects & projects

    def parse_list(self, name: str) -> set:
        if self.take() != "(":
            raise JqlError("Error in the JQL Query: Expecting '(' after 'in'.")
        values = set()
        while True:
            values.add(self.convert(name, self.take()))
            token = self.take()
            if token == ")":
                return values
            if token != ",":
                raise JqlError("Error in the JQL Query: Expecting ',' or ')'.")

    def convert(self, name: str, raw: str) -> Any:
        text = raw[1:-1] if raw[:1] in "\"'" else raw
        if name == "project":
            return self.project_keys.get(text.upper(), text)
        if name in ("key", "issuekey"):
            project, _, number = text.upper().rpartition("-")
            if not number.isdigit():
                raise JqlError(f"The issue key '{text}' for field 'key' is invalid.")
            return (self.project_keys.get(project, project), int(number))
        if name == "id":
            if not text.isdigit():
                raise JqlError(f"The value '{text}' for field 'id' is invalid.")
            return int(text)
        return self.instant(text)

    def instant(self, text: str) -> float:
        """A date value as epoch seconds: epoch ms, a relative period, or a literal in the account's zone."""
        if text.isdigit():
            return int(text) / 1000
        period = PERIOD.match(text)
        if period:
            sign = -1 if period.group(1) == "-" else 1
            return self.now + sign * int(period.group(2)) * UNITS[period.group(3)]
        for form in DATE_FORMATS:
            try:
                return datetime.strptime(text, form).replace(tzinfo=self.zone).timestamp()
            except ValueError:
                continue
        raise JqlError(
            f"Date value '{text}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
            "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        )

    @staticmethod
    def value_of(name: str, issue: Issue) -> Any:
        if name == "project":
            return issue["_project"]
        if name in ("key", "issuekey"):
            number = issue["key"].rpartition("-")[2]
            return (issue["_project"], int(number))
        if name == "id":
            return int(issue["id"])
        return issue["_updated"] if name == "updated" else issue["_created"]


def compare(op: str, get: Callable[[Issue], Any], value: Any) -> Callable[[Issue], bool]:
    if op == "=":
        return lambda issue: get(issue) == value
    if op == "!=":
        return lambda issue: get(issue) != value
    if isinstance(value, tuple):  # key comparisons stay within the key's project, as Jira's do
        ops = {">": tuple.__gt__, ">=": tuple.__ge__, "<": tuple.__lt__, "<=": tuple.__le__}
        return lambda issue: get(issue)[0] == value[0] and ops[op](get(issue), value)
    ops = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}
    return lambda issue: ops[op](float(get(issue)), float(value))


def parse(text: str, zone: str, now: float, project_keys: dict[str, str]) -> Query:
    return Parser(text or "", zone, now, project_keys).parse()


def sort_key(order: list[tuple[str, bool]]) -> Callable[[Issue], tuple]:
    """A key for sorted(); descending fields negate numbers. Default order: id ascending."""
    order = order or [("id", False)]

    def key(issue: Issue) -> tuple:
        parts = []
        for name, descending in order:
            value = Parser.value_of(name if name in FIELDS else "id", issue)
            value = value[1] if isinstance(value, tuple) else value
            parts.append(-float(value) if descending else float(value))
        return tuple(parts)

    return key
