"""Run the Pulumi program without the engine: record every declared resource and its inputs.

`RecordingMocks` answers the engine's calls with realistic ids and ARNs (derived from the
program's own inputs) and keeps a `ResourceGraph`; `run_program` runs a program under it with
a fresh event loop, `preview=False` and the stack config, the way Pulumi's unit-test examples do.
The policy tests, the mock tests and `lab.moto_materialize` all build on these.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; pulumi depends on it

from infra.config import PROJECT
from infra.errors import InfraError

logger = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class DeclaredResource:
    """One resource the program declared: its type token, logical name, inputs and outputs."""

    type: str
    name: str
    id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    custom: bool
    # Top-level inputs the engine would store encrypted in the state.
    secret_inputs: frozenset[str] = frozenset()


@dataclass
class ResourceGraph:
    """Every resource of one program run, in declaration order, plus the stack's exports."""

    resources: list[DeclaredResource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, token: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.type == token]

    def named(self, name: str) -> DeclaredResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(f"no resource named {name!r} was declared")


def stack_config_from_yaml(path: Path) -> dict[str, str]:
    """A Pulumi.<stack>.yaml as the engine hands it to the program: structured values as JSON."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise InfraError(f"{path}: 'config' must be a map of 'namespace:key' to values")
    return {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }


# How the engine marks a secret value on the wire (pulumi.runtime.rpc's signature keys).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def _unwrap_secrets(value: Any) -> Any:
    if _is_secret(value):
        return _unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {key: _unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item) for item in value]
    return value


def _short_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record the resource graph and return outputs shaped like AWS's."""

    def __init__(self, *, region: str, account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        self.graph = ResourceGraph()
        self._lock = threading.Lock()
        # The mock monitor gives each of its worker threads an event loop and never closes it.
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()

    def _note_thread_loop(self) -> None:
        with self._lock:
            self._thread_loops.add(asyncio.get_event_loop())

    def close_thread_loops(self, *, keep: asyncio.AbstractEventLoop) -> None:
        """Close the worker threads' loops (their sockets would leak) once the run is over."""
        with self._lock:
            loops, self._thread_loops = self._thread_loops, set()
        for loop in loops:
            if loop is not keep and not loop.is_closed():
                loop.close()

    # -- the engine's two calls --------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self._note_thread_loop()
        secret_keys = frozenset(k for k, v in args.inputs.items() if _is_secret(v))
        inputs = {key: _unwrap_secrets(value) for key, value in args.inputs.items()}
        physical_id, outputs = self.create(args.typ, args.name, inputs)
        with self._lock:
            self.graph.resources.append(
                DeclaredResource(
                    type=args.typ,
                    name=args.name,
                    id=physical_id,
                    inputs=inputs,
                    outputs=outputs,
                    custom=bool(args.custom),
                    secret_inputs=secret_keys,
                )
            )
        return physical_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        # A bare dict means "no check failures" to the mock monitor (a (dict, None) tuple breaks it).
        self._note_thread_loop()
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/edgefill-deployer",
                "userId": "AIDAEDGEFILLDEPLOYER",
                "id": self.account_id,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        raise InfraError(
            f"the program invoked {args.token}, which RecordingMocks does not answer; "
            "add it to RecordingMocks.call so tests never see silent None fields"
        )

    # -- outputs -----------------------------------------------------------------------------

    def create(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The physical id and outputs of a resource; subclasses create it for real."""
        return self.synthesize(typ, name, inputs)

    def synthesize(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        region, account = self.region, self.account_id
        physical = str(inputs.get("name") or f"{name}-{_short_id(name)}")
        outputs: dict[str, Any] = dict(inputs)
        arn = f"arn:aws:mock:{region}:{account}:{typ}/{physical}"
        physical_id = physical
        if typ == "aws:s3/bucket:Bucket":
            physical = physical_id = str(inputs.get("bucket") or physical)
            arn = f"arn:aws:s3:::{physical}"
            outputs["bucket"] = physical
        elif typ == "aws:dynamodb/table:Table":
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{physical}"
        elif typ == "aws:kms/key:Key":
            physical_id = f"{_short_id(name)}-key"
            arn = f"arn:aws:kms:{region}:{account}:key/{physical_id}"
            outputs["keyId"] = physical_id
        elif typ == "aws:sns/topic:Topic":
            arn = physical_id = f"arn:aws:sns:{region}:{account}:{physical}"
        elif typ == "aws:sqs/queue:Queue":
            arn = f"arn:aws:sqs:{region}:{account}:{physical}"
            physical_id = f"https://sqs.{region}.amazonaws.com/{account}/{physical}"
            outputs["url"] = physical_id
        elif typ == "aws:iam/role:Role":
            arn = f"arn:aws:iam::{account}:role/{physical}"
        elif typ == "aws:iam/policy:Policy":
            arn = physical_id = f"arn:aws:iam::{account}:policy/{physical}"
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{physical}"
            outputs["invokeArn"] = (
                f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{region}:{account}:log-group:{physical}"
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            arn = f"arn:aws:events:{region}:{account}:rule/{physical}"
        elif typ == "aws:apigatewayv2/api:Api":
            physical_id = _short_id(name)[:10]
            arn = f"arn:aws:apigateway:{region}::/apis/{physical_id}"
            outputs["apiEndpoint"] = f"https://{physical_id}.execute-api.{region}.amazonaws.com"
            outputs["executionArn"] = f"arn:aws:execute-api:{region}:{account}:{physical_id}"
        elif typ == "aws:cognito/userPool:UserPool":
            physical_id = f"{region}_{_short_id(name)[:9]}"
            arn = f"arn:aws:cognito-idp:{region}:{account}:userpool/{physical_id}"
        elif typ == "aws:cognito/userPoolClient:UserPoolClient":
            physical_id = _short_id(name, "client")
        elif typ == "aws:secretsmanager/secret:Secret":
            arn = physical_id = (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{physical}-AbCdEf"
            )
        elif typ == "random:index/randomPassword:RandomPassword":
            physical_id = "none"
            length = int(inputs.get("length", 32))
            digest = hashlib.sha256(name.encode()).hexdigest() * (1 + length // 64)
            outputs["result"] = digest[:length]
        outputs.setdefault("arn", arn)
        outputs.setdefault("name", physical)
        return physical_id, outputs


def run_program(
    program: Callable[[], Mapping[str, Any]],
    *,
    mocks: RecordingMocks,
    config: Mapping[str, str],
    stack: str = "dev",
    secret_keys: list[str] | None = None,
) -> ResourceGraph:
    """Run `program` (which declares resources and returns its exports) under `mocks`.

    Each run gets its own thread, event loop and config, so the caller's event loop and the
    engine's context variables are left as they were; nothing is previewed: applies run and
    every output resolves, so checks inside them cannot pass silently. The program's error,
    if any, is raised here.
    """
    failures: list[BaseException] = []

    def run() -> None:
        try:
            _run_on_own_loop(
                program, mocks=mocks, config=config, stack=stack, secret_keys=secret_keys
            )
        except BaseException as exc:  # handed to the caller's thread below
            failures.append(exc)

    thread = threading.Thread(target=run, name="pulumi-program")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    return mocks.graph


def _run_on_own_loop(
    program: Callable[[], Mapping[str, Any]],
    *,
    mocks: RecordingMocks,
    config: Mapping[str, str],
    stack: str,
    secret_keys: list[str] | None,
) -> None:
    loop = asyncio.new_event_loop()
    # After a failure, the engine's leftover futures hold the same error the run raises;
    # keep asyncio from printing each of them again when they are collected.
    loop.set_exception_handler(
        lambda _, context: logger.debug("after the run: %s", context.get("message"))
    )
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(dict(config), secret_keys)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)

        def body() -> pulumi.Output[Any]:
            exports = pulumi.Output.from_input(dict(program()))
            return exports.apply(mocks.graph.exports.update)

        pulumi.runtime.test(body)()
    finally:
        # A failed program leaves registrations pending; cancel and drain them so none is
        # garbage-collected unawaited.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        mocks.close_thread_loops(keep=loop)
        asyncio.set_event_loop(None)
        loop.close()
