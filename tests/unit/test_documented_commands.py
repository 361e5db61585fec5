"""The shell commands in README.md and docs/*.md run as written; checked with no AWS or network."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
PROBE = Path(__file__).with_name("_cli_probe.py")
BIN = Path(sys.executable).parent
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
SEPARATORS = frozenset({"&&", "||", ";", "|"})
FENCE = re.compile(r"(`{3,}|~{3,})\s*([\w+-]*)")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PYTHONS = frozenset({"python", "python3", ".venv/bin/python", ".venv/bin/python3"})
TIMEOUT_S = 90

# Commands that cannot be checked here, each with the reason. The test reports them as skipped,
# so they stay visible; anything else without a rule fails.
ALLOW_UNCHECKED: dict[tuple[str, ...], str] = {
    ("git", "clone"): "fetches a remote repository over the network",
    ("aws", "configure"): "interactive; writes the operator's own AWS credentials",
    ("sudo", "apt-get"): "changes the machine's Debian packages (scripts/bootstrap.sh does that)",
    ("apt-get",): "changes the machine's Debian packages (scripts/bootstrap.sh does that)",
    ("pulumi", "login"): "logs in to a Pulumi backend over the network",
}


@dataclass(frozen=True)
class Command:
    """One command of a shell block: where it is written and the directory it runs in."""

    doc: str
    line: int
    cwd: Path
    argv: tuple[str, ...]
    id: str

    @property
    def text(self) -> str:
        return shlex.join(self.argv)

    def where(self) -> str:
        return f"{self.doc}:{self.line}: `{self.text}` (in {_rel(self.cwd)}/)"


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# --- extraction -------------------------------------------------------------------------------


def shell_blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """The (line number, line) pairs of each fenced sh/bash/shell/console block, dedented."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.fullmatch(lines[index].strip())
        index += 1
        if opening is None:
            continue
        fence, language = opening.groups()
        closing = re.compile(rf"{re.escape(fence[0])}{{{len(fence)},}}")
        body: list[tuple[int, str]] = []
        while index < len(lines) and not closing.fullmatch(lines[index].strip()):
            body.append((index + 1, lines[index].strip()))
            index += 1
        index += 1
        if language in SHELL_LANGUAGES:
            yield _console_input(body) if language == "console" else body


def _console_input(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """In a console block only `$ ` lines are commands; the rest is their output."""
    return [(number, line[2:]) for number, line in body if line.startswith("$ ")]


def split_commands(line: str) -> list[list[str]]:
    """The commands of one shell line, split at `&&`, `||`, `;` and `|`, comments dropped.

    Leading `NAME=value` assignments are dropped too. Unlike sh, a `#` inside a word also
    starts a comment (shlex); quote it if a documented command ever needs one.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            commands.append([])
        elif commands[-1] or not ASSIGNMENT.match(token):
            commands[-1].append(token)
    return [command for command in commands if command]


def commands_in(doc: str, text: str) -> list[Command]:
    """Every command of the doc's shell blocks; each block starts at the repository root."""
    found: list[Command] = []
    for block in shell_blocks(text):
        cwd = REPO
        pending = ""
        first = 0
        for number, line in block:
            if not pending:
                first = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            source, pending = pending + line, ""
            for position, argv in enumerate(split_commands(source)):
                suffix = f"#{position + 1}" if position else ""
                found.append(Command(doc, first, cwd, tuple(argv), f"{doc}:{first}{suffix}"))
                if argv[0] == "cd" and len(argv) == 2:
                    cwd = (cwd / argv[1]).resolve()
    return found


def documented_commands() -> list[Command]:
    return [
        command
        for doc in DOCS
        for command in commands_in(_rel(doc), doc.read_text(encoding="utf-8"))
    ]


# --- checks: each returns None when the command is fine, else what is wrong -------------------


def _clean_env() -> dict[str, str]:
    """This environment without AWS settings and without make's or Ansible's overrides (a
    `make test` run passes MAKEFLAGS down; ANSIBLE_CONFIG would hide the cwd's ansible.cfg)."""
    dropped = ("AWS_", "ANSIBLE_", "EDGEFILL_", "MAKE", "MFLAGS")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    return env | {"AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1"}


def _env(tmp: Path) -> dict[str, str]:
    """The environment of a checked command: clean, with caches and Ansible's temp files in
    this test's own directory."""
    return _clean_env() | {
        "EDGEFILL_CACHE_DIR": str(tmp / "cache"),
        "ANSIBLE_HOME": str(tmp / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _run(argv: list[str], *, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=_env(tmp),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def check_cd(command: Command, tmp: Path) -> str | None:
    if len(command.argv) != 2:
        return "only `cd DIRECTORY` is understood"
    target = command.cwd / command.argv[1]
    return None if target.is_dir() else f"{_rel(target)} is not a directory"


def _probe(command: Command, target: str, args: list[str], tmp: Path) -> str | None:
    """`TARGET --help` exits 0 with a usage, and argparse accepts the documented arguments."""
    proc = _run([sys.executable, str(PROBE), target, *args], cwd=command.cwd, tmp=tmp)
    if proc.returncode != 0:
        return f"the CLI probe failed: {_tail(proc.stderr)}"
    result = json.loads(proc.stdout)
    code, out, err = result["help"]
    if code != 0 or "usage:" not in out:
        return f"`{target} --help` exited {code} without a usage: {_tail(err or out)}"
    code, out, err = result["parse"]
    if code is None:
        return f"{target} never parsed its arguments with argparse (it ran instead)"
    if code != 0:
        return f"{target} refuses these arguments (exit {code}): {_tail(err or out)}"
    return None


def check_python(command: Command, tmp: Path) -> str | None:
    program, *rest = command.argv
    if len(rest) < 2 or rest[0] != "-m":
        return "only `python -m MODULE ...` is understood"
    if "/" in program and not (command.cwd / program).is_file():
        return f"{program} does not exist in {_rel(command.cwd)}/"
    return _probe(command, rest[1], rest[2:], tmp)


@cache
def console_scripts() -> dict[str, str]:
    """`[project.scripts]` of pyproject.toml: script name -> `module:function`."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        scripts: dict[str, str] = tomllib.load(handle)["project"]["scripts"]
    return scripts


def check_console_script(command: Command, tmp: Path) -> str | None:
    """`appliance-agent SUB ...`: the entry point's `SUB --help`, and its argv parses."""
    return _probe(command, console_scripts()[command.argv[0]], list(command.argv[1:]), tmp)


@dataclass(frozen=True)
class MakeDatabase:
    targets: dict[str, tuple[str, ...]]
    default_goal: str | None
    text: str


@cache
def make_database(makefile: Path) -> MakeDatabase:
    """The targets and prerequisites GNU make reads from `makefile`, running no recipe.

    `-q` with a goal that does not exist builds nothing (not even `+`/`$(MAKE)` lines, which
    `-n` would run); `-p` still prints the whole database.
    """
    proc = subprocess.run(
        ["make", "-pRrq", "-f", str(makefile), "__documented_commands_no_such_goal__"],
        cwd=makefile.parent,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    targets: dict[str, tuple[str, ...]] = {}
    in_files = not_a_target = False
    for line in proc.stdout.splitlines():
        if line == "# Files":
            in_files = True
        elif line.startswith("# files hash-table stats"):
            in_files = False
        elif in_files and line == "# Not a target:":
            not_a_target = True
        elif in_files and (rule := re.fullmatch(r"([^\s#:=][^:=]*?)::?(?:\s+(.*))?", line)):
            if not not_a_target:
                prerequisites = (rule[2] or "").split()
                targets[rule[1]] = tuple(p for p in prerequisites if p != "|")
            not_a_target = False
    goal = re.search(r"^\.DEFAULT_GOAL :?= (\S+)$", proc.stdout, re.MULTILINE)
    return MakeDatabase(targets, goal[1] if goal else None, makefile.read_text(encoding="utf-8"))


def _unbuildable(database: MakeDatabase, goal: str, root: Path, seen: set[str]) -> str | None:
    if goal in seen:
        return None
    seen.add(goal)
    if goal not in database.targets:
        return None if (root / goal).exists() else goal
    for prerequisite in database.targets[goal]:
        missing = _unbuildable(database, prerequisite, root, seen)
        if missing is not None:
            return missing
    return None


def check_make(command: Command, tmp: Path) -> str | None:
    """`make [TARGET ...] [VAR=value ...]`: each target, and all it depends on, has a rule."""
    makefile = command.cwd / "Makefile"
    if not makefile.is_file():
        return f"there is no Makefile in {_rel(command.cwd)}/"
    database = make_database(makefile)
    args = command.argv[1:]
    if options := [arg for arg in args if arg.startswith("-")]:
        return f"make options {options} are not understood here"
    assignments = [arg.split("=", 1)[0] for arg in args if "=" in arg]
    goals = [arg for arg in args if "=" not in arg] or [database.default_goal or ""]
    for goal in goals:
        missing = _unbuildable(database, goal, command.cwd, set())
        if missing is not None:
            return f"the Makefile has no rule for {missing!r} (needed by `make {goal}`)"
    for name in assignments:
        if not re.search(rf"\$[({{]{re.escape(name)}[)}}]", database.text):
            return f"the Makefile never uses the variable {name}"
    return None


ANSIBLE_VALUE_OPTIONS = frozenset(
    {"-i", "--inventory", "-l", "--limit", "-e", "--extra-vars", "-t", "--tags", "--skip-tags"}
    | {"-u", "--user", "-f", "--forks", "--vault-id", "--vault-password-file"}
)
ANSIBLE_FLAGS = frozenset(
    {"--ask-vault-pass", "-J", "--check", "-C", "--diff", "-D", "-v", "-vv", "-vvv"}
    | {"-b", "--become", "-K", "--ask-become-pass", "--syntax-check", "--list-hosts"}
)
ANSIBLE_VAULT_OPTIONS = frozenset({"--ask-vault-pass", "-J", "--vault-id", "--vault-password-file"})


def _vaulted_files(inventory: Path) -> list[Path]:
    root = inventory if inventory.is_dir() else inventory.parent
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.read_bytes().startswith(b"$ANSIBLE_VAULT")
    ]


def check_ansible_playbook(command: Command, tmp: Path) -> str | None:
    """`ansible-playbook [-i INV] PLAYBOOK ...`: the paths exist, a vaulted inventory gets a
    vault password, and `--list-hosts` of the same command succeeds.

    `--list-hosts` loads the playbook as `--syntax-check` does (an unknown module or a broken
    import fails both) and also resolves `--limit` against the inventory. It decrypts nothing,
    so it runs without the vault password: `--ask-vault-pass` is dropped for it (it would
    prompt), and whether the command asks for the password is checked from the files instead.
    """
    args = list(command.argv[1:])
    inventories: list[str] = []
    playbooks: list[str] = []
    options: set[str] = set()
    index = 0
    while index < len(args):
        arg = args[index]
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ANSIBLE_VALUE_OPTIONS:
            if not has_value:
                index += 1
                value = args[index] if index < len(args) else ""
            if name in {"-i", "--inventory"}:
                inventories.append(value)
        elif arg.startswith("-") and arg not in ANSIBLE_FLAGS:
            return f"ansible-playbook option {arg} is not in this test's tables; add it"
        elif not arg.startswith("-"):
            playbooks.append(arg)
        options.add(name)
        index += 1
    if not inventories:
        config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
        config.read(command.cwd / "ansible.cfg")
        if not config.has_option("defaults", "inventory"):
            return f"no -i, and no ansible.cfg in {_rel(command.cwd)}/ naming an inventory"
        inventories.append(config.get("defaults", "inventory"))
    for path in [*inventories, *playbooks]:
        if not (command.cwd / path).exists():
            return f"{path} does not exist in {_rel(command.cwd)}/"
    if not playbooks:
        return "no playbook named"
    vaulted = [
        file for inventory in inventories for file in _vaulted_files(command.cwd / inventory)
    ]
    if vaulted and not options & ANSIBLE_VAULT_OPTIONS:
        return (
            f"the inventory holds vaulted files ({_rel(vaulted[0])}), so without --ask-vault-pass "
            "ansible stops with 'Attempting to decrypt but no vault secrets found'"
        )
    listed = [arg for arg in args if arg not in {"--ask-vault-pass", "-J"}]
    proc = _run([str(BIN / "ansible-playbook"), *listed, "--list-hosts"], cwd=command.cwd, tmp=tmp)
    if proc.returncode != 0:
        return f"`ansible-playbook ... --list-hosts` exited {proc.returncode}: {_tail(proc.stdout + proc.stderr)}"
    return None


PULUMI_COMMANDS = frozenset(
    {("stack", "init"), ("stack", "select"), ("config", "set"), ("preview",), ("up",)}
    | {("destroy",)}
)


def check_pulumi(command: Command, tmp: Path) -> str | None:
    """What the command names exists: the project, the policy pack, the config key.

    The Pulumi CLI cannot be installed on this machine, so nothing runs; the program itself is
    tested under Pulumi's mocks in tests/integration/infra.
    """
    project = command.cwd / "Pulumi.yaml"
    if not project.is_file():
        return f"there is no Pulumi.yaml in {_rel(command.cwd)}/"
    words = [arg for arg in command.argv[1:] if not arg.startswith("-")]
    if not any(tuple(words[: len(known)]) == known for known in PULUMI_COMMANDS):
        return f"`pulumi {' '.join(words[:2])}` is not in this test's table of pulumi commands"
    args = list(command.argv)
    if "--policy-pack" in args:
        pack = command.cwd / [*args, ""][args.index("--policy-pack") + 1]
        if not (pack / "PulumiPolicy.yaml").is_file():
            return f"{_rel(pack)} is not a policy pack (no PulumiPolicy.yaml)"
    if tuple(words[:2]) == ("config", "set"):
        key = words[2] if len(words) > 2 else ""
        namespace, _, name = key.rpartition(":")
        manifest = project.read_text(encoding="utf-8")
        project_name = re.search(r"^name:\s*(\S+)", manifest, re.MULTILINE)
        program = re.search(r"^main:\s*(\S+)", manifest, re.MULTILINE)
        if project_name and program and namespace == project_name[1]:
            sources = (command.cwd / program[1]).rglob("*.py")
            if not any(
                re.search(rf"\b{re.escape(name)}\b", path.read_text(encoding="utf-8"))
                for path in sources
            ):
                return f"the Pulumi program never reads the config key {key}"
    return None


def check_bash_script(command: Command, tmp: Path) -> str | None:
    """`bash SCRIPT`: the script exists and `bash -n` parses it (runs nothing)."""
    if len(command.argv) < 2 or command.argv[1].startswith("-"):
        return "only `bash SCRIPT ...` is understood"
    script = command.cwd / command.argv[1]
    if not script.is_file():
        return f"{command.argv[1]} does not exist in {_rel(command.cwd)}/"
    proc = _run(["bash", "-n", str(script)], cwd=command.cwd, tmp=tmp)
    return None if proc.returncode == 0 else f"bash -n {script.name}: {_tail(proc.stderr)}"


Check = Callable[[Command, Path], str | None]
RULES: dict[str, Check] = {
    "cd": check_cd,
    "make": check_make,
    "ansible-playbook": check_ansible_playbook,
    "pulumi": check_pulumi,
    "bash": check_bash_script,
}


def rule_for(argv: tuple[str, ...]) -> Check | str | None:
    """The check for a command, the reason it is not checkable (a str), or None: no rule."""
    for prefix, reason in ALLOW_UNCHECKED.items():
        if argv[: len(prefix)] == prefix:
            return reason
    program = argv[0]
    if program in PYTHONS:
        return check_python
    if program in console_scripts():
        return check_console_script
    return RULES.get(program)


def problem_with(command: Command, tmp: Path) -> str | None:
    rule = rule_for(command.argv)
    if rule is None:
        return (
            "matches no rule of tests/unit/test_documented_commands.py: give it a check there, "
            "or an ALLOW_UNCHECKED entry saying why it cannot be checked"
        )
    if isinstance(rule, str):
        pytest.skip(f"not checkable: {rule}")
    return rule(command, tmp)


# --- tests ------------------------------------------------------------------------------------

DOCUMENTED = documented_commands()


@pytest.mark.parametrize("command", DOCUMENTED, ids=[command.id for command in DOCUMENTED])
def test_documented_command_runs_as_written(command: Command, tmp_path: Path) -> None:
    problem = problem_with(command, tmp_path)
    assert problem is None, f"{command.where()}: {problem}"


def test_the_docs_have_commands_to_check() -> None:
    docs = {command.doc for command in DOCUMENTED}
    assert {"README.md", "docs/ansible.md", "docs/deploy.md"} <= docs


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("```sh\nmake demo   # comment\n```", [("", 2, ["make", "demo"])]),
        (
            "```bash\n\ncd ansible\nls x\n```",
            [("", 3, ["cd", "ansible"]), ("ansible", 4, ["ls", "x"])],
        ),
        ("```sh\ncd ansible\n```\n```sh\nls\n```", [("", 2, ["cd", "ansible"]), ("", 5, ["ls"])]),
        ("```console\n$ make test\nok\n```", [("", 2, ["make", "test"])]),
        ("```sh\nmake \\\n  bench\n```", [("", 2, ["make", "bench"])]),
        (
            "```sh\nCI=true make test && pulumi up\n```",
            [("", 2, ["make", "test"]), ("", 2, ["pulumi", "up"])],
        ),
        ("```\nmake demo\n```\n```yaml\nplugin: x\n```", []),
        ("- item\n\n  ```sh\n  make lint\n  ```", [("", 4, ["make", "lint"])]),
        (
            '```sh\npulumi config set k "$(openssl rand 1)"  # optional\n```',
            [("", 2, ["pulumi", "config", "set", "k", "$(openssl rand 1)"])],
        ),
    ],
    ids=[
        "comment",
        "cd-tracked",
        "cd-per-block",
        "console",
        "continuation",
        "and-env",
        "not-shell",
        "indented",
        "quoted",
    ],
)
def test_commands_are_extracted_from_shell_blocks(
    markdown: str, expected: list[tuple[str, int, list[str]]]
) -> None:
    found = [
        (_rel(c.cwd) if c.cwd != REPO else "", c.line, list(c.argv))
        for c in commands_in("t.md", markdown)
    ]
    assert found == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("python -m lab.demo up --titles 3", None),
        ("python -m lab.wheelhouse --output dist/wheelhouse", "No module named"),
        (
            "python -m edgefill_build.wheelhouse build --output dist/wheelhouse",
            "unrecognized arguments: build",
        ),
        ("appliance-agent --config /etc/edgefill/agent.toml fill --now", None),
        ("appliance-agent fill --later", "unrecognized arguments: --later"),
        ("make bench ONLY=search", None),
        ("make no-such-target", "no rule for 'no-such-target'"),
        ("make bench NOT_A_VARIABLE=1", "never uses the variable NOT_A_VARIABLE"),
        ("cd ansible && make demo", "no Makefile in ansible/"),
        ("cd ansible && ansible-playbook playbooks/site.yml", "vaulted files"),
        (
            "cd ansible && ansible-playbook playbooks/nope.yml --ask-vault-pass",
            "playbooks/nope.yml does not exist",
        ),
        (
            "ansible-playbook -i inventories/example playbooks/site.yml --ask-vault-pass",
            "does not exist in ./",
        ),
        ("pulumi config set edgefill:noSuchKey 1", "never reads the config key edgefill:noSuchKey"),
        ("pulumi preview --policy-pack infra", "not a policy pack"),
        ("cd docs && pulumi up", "no Pulumi.yaml in docs/"),
        ("frobnicate --now", "matches no rule"),
    ],
)
def test_the_checks_catch_what_would_not_run(
    line: str, problem: str | None, tmp_path: Path
) -> None:
    *_, command = commands_in("t.md", f"```sh\n{line}\n```")
    found = problem_with(command, tmp_path)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found
