"""A small POSIX sh parser: enough of the grammar to know which redirections apply to which command.

It reads what a pod spec's ``sh -c`` script can hold: words with quotes, escapes, ``$(...)``,
``${...}`` and backquotes; comments; here-documents (skipped); lists, and-or lists, pipelines and
background jobs; ``{ }``, ``( )``, ``if``, ``while``/``until``, ``for``, ``case`` and function
definitions; and redirections with their fd numbers, in order. It does not expand anything: a
word is its text with the quotes removed. What it cannot parse raises ShellSyntaxError, and the
caller decides what that means (shell_output.py falls back to a plain pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_OPERATORS = ("&>>", "<<-", "&&", "||", ";;", "|&", "&>", ">>", ">|", ">&", "<&", "<<", "<>", ">", "<", "|", "&",
              ";", "(", ")", "\n")
REDIRECTIONS = frozenset({"&>>", "&>", ">>", ">|", ">&", "<&", "<<", "<<-", "<>", ">", "<"})


class ShellSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word" | "op" | "io" (an fd number right before a redirection operator)
    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    fd: int | None  # the explicit fd number, None for the operator's default
    op: str
    target: str


@dataclass(slots=True)
class Command:
    kind: str  # "simple" | "group" | "subshell" | "compound" (if, loops, case) | "function"
    words: list[str] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    bodies: list[list[Item]] = field(default_factory=list)  # the lists a compound command runs


@dataclass(slots=True)
class Item:
    """One and-or list: pipelines joined by && / ||, maybe sent to the background."""

    pipelines: list[list[Command]]
    background: bool = False


# --- lexing ------------------------------------------------------------------------------------


def _skip_nested(text: str, i: int, opening: str, closing: str) -> int:
    """Index just past the ``closing`` matching the ``opening`` at text[i], quotes respected."""
    depth, i = 0, i
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "'":
            end = text.find("'", i + 1)
            i = len(text) if end < 0 else end + 1
            continue
        if char == '"':
            i = _skip_double(text, i + 1)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ShellSyntaxError(f"unterminated {opening}")


def _skip_double(text: str, i: int) -> int:
    """Index just past the closing double quote, from just after the opening one."""
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char == '"':
            return i + 1
        elif text.startswith("$(", i):
            i = _skip_nested(text, i + 1, "(", ")")
        elif char == "`":
            end = text.find("`", i + 1)
            i = len(text) if end < 0 else end + 1
        else:
            i += 1
    raise ShellSyntaxError("unterminated double quote")


def tokenize(script: str) -> list[Token]:
    tokens: list[Token] = []
    heredocs: list[str] = []
    i, n = 0, len(script)
    while i < n:
        char = script[i]
        if char in " \t":
            i += 1
            continue
        if char == "\\" and script.startswith("\\\n", i):
            i += 2  # a line continuation
            continue
        if char == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        operator = next((op for op in _OPERATORS if script.startswith(op, i)), None)
        if operator is not None:
            tokens.append(Token("op", operator))
            i += len(operator)
            if operator in ("<<", "<<-"):
                heredocs.append("")  # the delimiter is the next word
            if operator == "\n" and any(heredocs):
                i = _skip_heredocs(script, i, heredocs)
                heredocs = []
            continue
        quoted, parts = False, []
        while i < n:
            char = script[i]
            if char in " \t\n" or (char in ";&|()<>" and not script.startswith("$(", i)):
                break
            if char == "\\":
                parts.append(script[i + 1:i + 2])
                quoted, i = True, i + 2
            elif char == "'":
                end = script.find("'", i + 1)
                if end < 0:
                    raise ShellSyntaxError("unterminated single quote")
                parts.append(script[i + 1:end])
                quoted, i = True, end + 1
            elif char == '"':
                end = _skip_double(script, i + 1)
                parts.append(script[i + 1:end - 1])
                quoted, i = True, end
            elif script.startswith("$(", i):
                end = _skip_nested(script, i + 1, "(", ")")
                parts.append(script[i:end])
                i = end
            elif script.startswith("${", i):
                end = _skip_nested(script, i + 1, "{", "}")
                parts.append(script[i:end])
                i = end
            elif char == "`":
                end = script.find("`", i + 1)
                if end < 0:
                    raise ShellSyntaxError("unterminated backquote")
                parts.append(script[i:end + 1])
                i = end + 1
            else:
                parts.append(char)
                i += 1
        text = "".join(parts)
        if not quoted and text.isdigit() and i < n and script[i] in "<>":
            tokens.append(Token("io", text))  # "2>" : the fd number belongs to the redirection
        else:
            tokens.append(Token("word", text, quoted))
            if heredocs and heredocs[-1] == "" and len(tokens) >= 2 and tokens[-2].text in ("<<", "<<-"):
                heredocs[-1] = text
    return tokens


def _skip_heredocs(script: str, i: int, delimiters: list[str]) -> int:
    """Skip here-document bodies after a newline: lines up to each delimiter line."""
    for delimiter in delimiters:
        while i < len(script):
            end = script.find("\n", i)
            line = script[i:] if end < 0 else script[i:end]
            i = len(script) if end < 0 else end + 1
            if line.strip("\t") == delimiter:
                break
    return i


# --- parsing -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ShellSyntaxError("unexpected end of script")
        self.pos += 1
        return token

    def is_word(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and not token.quoted and token.text in texts

    def is_op(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text in texts

    def expect_word(self, text: str) -> None:
        if not self.is_word(text):
            raise ShellSyntaxError(f"expected {text!r}")
        self.pos += 1

    def newlines(self) -> None:
        while self.is_op("\n"):
            self.pos += 1

    def items(self, *until: str) -> list[Item]:
        """A list of and-or items, up to (not past) one of the reserved words or ops ``until``."""
        out: list[Item] = []
        while True:
            while self.is_op(";", "\n"):
                self.pos += 1
            token = self.peek()
            if token is None or (token.kind == "word" and not token.quoted and token.text in until) \
                    or (token.kind == "op" and token.text in until):
                return out
            item = Item(self.and_or())
            if self.is_op("&"):
                item.background = True
                self.pos += 1
            elif self.is_op(";;") and ";;" not in until:
                raise ShellSyntaxError("';;' outside case")
            out.append(item)

    def and_or(self) -> list[list[Command]]:
        pipelines = [self.pipeline()]
        while self.is_op("&&", "||"):
            self.pos += 1
            self.newlines()
            pipelines.append(self.pipeline())
        return pipelines

    def pipeline(self) -> list[Command]:
        if self.is_word("!"):
            self.pos += 1
        commands = [self.command()]
        while self.is_op("|", "|&"):
            self.pos += 1
            self.newlines()
            commands.append(self.command())
        return commands

    def command(self) -> Command:
        if self.is_word("{"):
            self.pos += 1
            command = Command("group", bodies=[self.items("}")])
            self.expect_word("}")
        elif self.is_op("("):
            self.pos += 1
            command = Command("subshell", bodies=[self.items(")")])
            if not self.is_op(")"):
                raise ShellSyntaxError("expected ')'")
            self.pos += 1
        elif self.is_word("if"):
            command = self._if()
        elif self.is_word("while", "until"):
            self.pos += 1
            condition = self.items("do")
            command = Command("compound", bodies=[condition, self._do()])
        elif self.is_word("for", "select"):
            self.pos += 1
            self.take()  # the variable
            while not self.is_word("do") and not self.is_op(";", "\n"):
                self.take()  # "in" and the words
            command = Command("compound", bodies=[self._do()])
        elif self.is_word("case"):
            command = self._case()
        else:
            return self.simple()
        command.redirects.extend(self.redirects())
        return command

    def _do(self) -> list[Item]:
        while self.is_op(";", "\n"):
            self.pos += 1
        self.expect_word("do")
        body = self.items("done")
        self.expect_word("done")
        return body

    def _if(self) -> Command:
        self.expect_word("if")
        bodies = [self.items("then")]
        self.expect_word("then")
        bodies.append(self.items("elif", "else", "fi"))
        while self.is_word("elif"):
            self.pos += 1
            bodies.append(self.items("then"))
            self.expect_word("then")
            bodies.append(self.items("elif", "else", "fi"))
        if self.is_word("else"):
            self.pos += 1
            bodies.append(self.items("fi"))
        self.expect_word("fi")
        return Command("compound", bodies=bodies)

    def _case(self) -> Command:
        self.expect_word("case")
        self.take()  # the subject
        self.newlines()
        self.expect_word("in")
        bodies: list[list[Item]] = []
        while True:
            self.newlines()
            if self.is_word("esac"):
                self.pos += 1
                return Command("compound", bodies=bodies)
            if self.is_op("("):
                self.pos += 1
            while not self.is_op(")"):
                self.take()  # the patterns and their "|"
            self.pos += 1
            bodies.append(self.items(";;", "esac"))
            if self.is_op(";;"):
                self.pos += 1

    def redirects(self) -> list[Redirect]:
        out: list[Redirect] = []
        while True:
            fd: int | None = None
            token = self.peek()
            if token is not None and token.kind == "io":
                fd = int(self.take().text)
                token = self.peek()
            if token is None or token.kind != "op" or token.text not in REDIRECTIONS:
                if fd is not None:
                    raise ShellSyntaxError("fd number without a redirection")
                return out
            op = self.take().text
            target = self.take()
            if target.kind != "word":
                raise ShellSyntaxError(f"{op} without a target")
            out.append(Redirect(fd, op, target.text))

    def simple(self) -> Command:
        command = Command("simple")
        while True:
            command.redirects.extend(self.redirects())
            token = self.peek()
            if token is None or token.kind != "word":
                break
            if not command.words and not token.quoted and token.text in ("}", "then", "do", "done", "fi", "elif",
                                                                          "else", "esac"):
                break
            command.words.append(self.take().text)
            if len(command.words) == 1 and self.is_op("(") and self._function():
                return Command("function")
        if not command.words and not command.redirects:
            raise ShellSyntaxError(f"unexpected {token.text if token else 'end of script'!r}")
        return command

    def _function(self) -> bool:
        """``name() compound``: a definition runs nothing now; skip it."""
        if self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1].text == ")":
            self.pos += 2
            self.newlines()
            self.command()
            return True
        return False


def parse(script: str) -> list[Item]:
    parser = _Parser(tokenize(script))
    items = parser.items()
    leftover = parser.peek()
    if leftover is not None:
        raise ShellSyntaxError(f"unexpected {leftover.text!r}")
    return items



__all__ = ["Command", "Item", "Redirect", "ShellSyntaxError", "Token", "parse", "tokenize"]
