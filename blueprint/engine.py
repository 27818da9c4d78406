"""The offline preview engine: run the real program under the Pulumi SDK's mock engine and record it.

``run_stack("dev")`` loads the stack's config like the CLI does, executes ``infra/__main__.py``
the way Pulumi's Python language host does (``runpy.run_path`` on the ``main:`` directory), and
returns a :class:`~blueprint.plan.Plan` with every registered resource: URN, type, parent,
provider, wire-format inputs, dependencies (also per property), protect / retainOnDelete /
ignoreChanges, and the stack outputs.

The mocks return realistic computed outputs (ids, ARNs, URLs, endpoints, physical names) so
that no dependency edge is lost (an output the mock does not return would drop the input
that consumes it, and its edge, from the capture).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import gc
import hashlib
import importlib
import importlib.util
import json
import os
import re
import runpy
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.sync_await import _sync_await

from blueprint.plan import Plan, Resource
from blueprint.stackfiles import StackSettings, load_stack


def _h(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
}

# Physical-name input per type, for resources the provider auto-names when it is unset.
_NAME_INPUT = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:ecr/repository:Repository": "name",
    "aws:eks/cluster:Cluster": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
}


class PlatformMocks(pulumi.runtime.Mocks):
    """Mocks that answer like AWS and Kubernetes would, deterministically (stable snapshots)."""

    def __init__(self, region: str, account: str, stack: str):
        self.region = region
        self.account = account
        self.stack = stack

    # ------------------------------------------------------------------ resources
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        typ, name = args.typ, args.name
        inputs = dict(args.inputs)
        if typ == "pulumi:pulumi:StackReference":
            return name, {"outputs": {}, "secretOutputNames": []}
        if typ.startswith("pulumi:providers:"):
            return f"{name}-provider-id", inputs
        key = _h(self.stack, typ, name)
        out = dict(inputs)
        phys_key = _NAME_INPUT.get(typ)
        if phys_key and not inputs.get(phys_key):
            prefix = inputs.get(phys_key + "Prefix")
            out[phys_key] = f"{prefix}{key[:8]}" if prefix else f"{name}-{key[:7]}"
        phys = out.get(phys_key) if phys_key else name
        rid = f"{_ID_PREFIX[typ]}-{key}" if typ in _ID_PREFIX else (phys or name)
        if args.resource_id:  # a read (`Resource.get`): the id is the one the program asked for
            rid = str(args.resource_id)
        out.setdefault("id", rid)
        if typ.startswith("aws:"):
            self._aws(typ, name, phys or name, rid, inputs, out)
        elif typ.startswith("kubernetes:"):
            self._k8s(typ, name, inputs, out)
        elif typ.startswith("docker:"):
            out.setdefault("repoDigest", f"{inputs.get('imageName', name)}@sha256:{_h(name, n=64)}")
        return rid, out

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{resource}"

    def _aws(self, typ: str, name: str, phys: str, rid: str, inputs: Mapping[str, Any], out: dict[str, Any]) -> None:
        service = typ.split(":")[1].split("/")[0]
        acct, region = self.account, self.region
        if typ == "aws:iam/role:Role":
            # IAM ARNs carry the resource's path (role/<path>/<name>), as IAM returns them.
            path = inputs.get("path") or "/"
            out.update(arn=f"arn:aws:iam::{acct}:role{path}{phys}", uniqueId=f"AROA{_h(name, n=17).upper()}")
        elif typ == "aws:iam/policy:Policy":
            out.update(arn=f"arn:aws:iam::{acct}:policy{inputs.get('path') or '/'}{phys}")
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            # A read (`OpenIdConnectProvider.get`) has the ARN as its id and no inputs.
            url = str(inputs.get("url", "")).removeprefix("https://")
            out.update(arn=rid if rid.startswith("arn:") else f"arn:aws:iam::{acct}:oidc-provider/{url}")
        elif typ == "aws:kms/key:Key":
            kid = (
                f"{_h(name, n=8)}-{_h(name, 'a', n=4)}-{_h(name, 'b', n=4)}-{_h(name, 'c', n=4)}-{_h(name, 'd', n=12)}"
            )
            out.update(id=kid, keyId=kid, arn=self._arn("kms", f"key/{kid}"))
        elif typ == "aws:kms/alias:Alias":
            out.update(
                arn=self._arn("kms", str(inputs.get("name", phys))),
                targetKeyArn=self._arn("kms", f"key/{inputs.get('targetKeyId', '')}"),
            )
        elif typ == "aws:ecr/repository:Repository":
            out.update(
                arn=self._arn("ecr", f"repository/{phys}"),
                registryId=acct,
                repositoryUrl=f"{acct}.dkr.ecr.{region}.amazonaws.com/{phys}",
            )
        elif typ.startswith("aws:ecr/") and typ != "aws:ecr/repository:Repository":
            # Lifecycle/repository/registry policies, scanning configuration, cache rules and
            # creation templates all report the registry (account) they belong to.
            out.update(registryId=acct)
        elif typ == "aws:s3/bucket:Bucket":
            out.update(
                arn=f"arn:aws:s3:::{phys}",
                bucketDomainName=f"{phys}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{phys}.s3.{region}.amazonaws.com",
                region=region,
            )
        elif typ == "aws:eks/cluster:Cluster":
            issuer = f"https://oidc.eks.{region}.amazonaws.com/id/{_h(name, n=32).upper()}"
            out.update(
                arn=self._arn("eks", f"cluster/{phys}"),
                endpoint=f"https://{_h(name, n=32).upper()}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={
                    "data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUtcHJldmlldwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
                },
                identities=[{"oidcs": [{"issuer": issuer}]}],
                vpcConfig={
                    **dict(inputs.get("vpcConfig") or {}),
                    "clusterSecurityGroupId": f"sg-{_h(name, 'cluster')}",
                    "vpcId": f"vpc-{_h(name, 'vpc')}",
                },
                status="ACTIVE",
                platformVersion="eks.1",
            )
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            ng = out.get("nodeGroupName", phys)
            out.update(
                arn=self._arn("eks", f"nodegroup/{inputs.get('clusterName', 'cluster')}/{ng}/{_h(name, n=8)}"),
                resources=[
                    {
                        "autoscalingGroups": [{"name": f"eks-{ng}-{_h(name, 'asg', n=8)}"}],
                        "remoteAccessSecurityGroupId": "",
                    }
                ],
                status="ACTIVE",
            )
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            out.update(arn=self._arn("ec2", f"launch-template/{rid}"), latestVersion=1, defaultVersion=1)
        elif typ == "aws:ec2/vpc:Vpc":
            out.update(
                arn=self._arn("ec2", f"vpc/{rid}"),
                defaultSecurityGroupId=f"sg-{_h(name, 'default')}",
                mainRouteTableId=f"rtb-{_h(name, 'main')}",
                defaultNetworkAclId=f"acl-{_h(name, 'acl')}",
            )
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out.update(arn=self._arn("logs", f"log-group:{phys}"))
        elif typ == "aws:ec2/eip:Eip":
            out.update(publicIp=f"198.51.100.{int(_h(name, n=2), 16) % 250 + 1}", allocationId=rid)
        elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            out.update(arn=self._arn("ec2", f"vpc-endpoint/{rid}"))
        elif typ == "aws:secretsmanager/secret:Secret":
            out.update(arn=self._arn("secretsmanager", f"secret:{phys}-{_h(name, n=6)}"))
        elif typ == "aws:rds/instance:Instance":
            # As RDS reports them: the endpoint, and with manage_master_user_password the secret it created.
            host = f"{phys}.{_h(name, n=12)}.{region}.rds.amazonaws.com"
            out.update(arn=self._arn("rds", f"db:{phys}"), address=host, endpoint=f"{host}:5432", port=5432)
            if inputs.get("manageMasterUserPassword"):
                secret = self._arn("secretsmanager", f"secret:rds!db-{_h(name, n=8)}-{_h(name, 's', n=6)}")
                out["masterUserSecrets"] = [
                    {
                        "secretArn": secret,
                        "secretStatus": "active",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                    }
                ]
        else:
            res = typ.split(":")[2][0].lower() + typ.split(":")[2][1:]
            out.setdefault("arn", self._arn(service, f"{res}/{rid}"))

    def _k8s(self, typ: str, name: str, inputs: Mapping[str, Any], out: dict[str, Any]) -> None:
        if typ.startswith("kubernetes:helm.sh/"):
            ns = inputs.get("namespace") or "default"
            rel = inputs.get("name") or name
            out.setdefault("name", rel)
            out["status"] = {
                "name": rel,
                "namespace": ns,
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "status": "deployed",
                "revision": 1,
            }
            return
        meta = dict(inputs.get("metadata") or {})
        meta.setdefault("name", f"{name}-{_h(name, n=8)}")
        meta.setdefault("uid", _h(name, "uid", n=32))
        out["metadata"] = meta

    # ------------------------------------------------------------------ invokes
    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        tok, a = args.token, args.args
        if tok == "aws:index/getCallerIdentity:getCallerIdentity":
            return (
                {
                    "accountId": self.account,
                    "arn": f"arn:aws:iam::{self.account}:root",
                    "userId": "AIDAOFFLINE",
                    "id": self.account,
                },
                [],
            )
        if tok == "aws:index/getPartition:getPartition":
            return ({"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, [])
        if tok == "aws:index/getRegion:getRegion":
            return ({"name": self.region, "region": self.region, "id": self.region}, [])
        if tok == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return (
                {
                    "userName": "AWS",
                    "password": "offline-token",
                    "authorizationToken": "offline",
                    "proxyEndpoint": f"https://{a.get('registryId', self.account)}.dkr.ecr.{self.region}.amazonaws.com",
                    "expiresAt": "2099-01-01T00:00:00Z",
                    "id": self.region,
                },
                [],
            )
        if tok == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            # An RDS-managed master secret's shape ({"username", "password"}); the value is a placeholder.
            sid = str(a.get("secretId", ""))
            doc = {"username": "mlflow", "password": "offline#placeholder&pw"}
            return ({"id": sid, "arn": sid, "secretId": sid, "secretString": json.dumps(doc), "versionId": "v1",
                     "versionStage": "AWSCURRENT", "versionStages": ["AWSCURRENT"], "secretBinary": "",
                     "createdDate": "2026-01-01T00:00:00Z"}, [])  # fmt: skip
        raise NotImplementedError(f"the offline engine has no mock for invoke {tok}; add it to blueprint/engine.py")


class RecordingMonitor(_mocks.MockMonitor):
    """A mock monitor that also records what the mock engine drops: parent, dependencies, options."""

    def __init__(self, mocks: PlatformMocks):
        super().__init__(mocks)
        self.records: list[Resource] = []

    # The base class serialises responses with `_sync_await`, which pumps the event loop
    # re-entrantly; with the inline executor below that recurses. Mock states are plain data, so
    # their serialisation coroutine never suspends and can be driven to completion directly.
    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        args = _mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        id_, state = self.mocks.new_resource(args)
        obj = _drive(rpc.serialize_properties(state, {}))
        self.resources[urn] = _mocks.MockMonitor.ResourceRegistration(urn, id_ or "", state)
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj)
        reg = self.resources[response.urn]
        self.records.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                provider=request.provider,
                inputs=json_format.MessageToDict(request.object),
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
                aliases=[a.urn for a in request.aliases if a.urn],
                outputs=reg.state,
            )
        )
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802
        args = rpc.deserialize_properties(request.args)
        ret, failures = self.mocks.call(_mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider))
        return resource_pb2.ResourceInvokeResponse(
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures or []],
            **{"return": _drive(rpc.serialize_properties(ret, {}))},
        )


def _drive(coro: Any) -> Any:
    """Run a coroutine that never suspends (serialising plain data) to completion, synchronously."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the mock state holds a value whose serialisation would block (an Output or a resource)")


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on the calling thread: mock calls are pure Python, no I/O.

    The SDK sends every registration through `loop.run_in_executor`; a thread hop per resource
    costs more than the mock call itself. Offline only: the real engine is a gRPC server.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)
        return future


_THREAD_LOOPS: set[asyncio.AbstractEventLoop] = set()


def _track_thread_loop() -> None:
    """The mock monitor runs on executor threads and gives each its own event loop; close them at exit.

    Left open, they are finalised after their self-pipes during interpreter shutdown, which prints
    a spurious ``Invalid file descriptor`` traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        _THREAD_LOOPS.add(_mocks._ensure_event_loop())


@atexit.register
def _close_thread_loops() -> None:
    for loop in _THREAD_LOOPS:
        if not loop.is_running() and not loop.is_closed():
            loop.close()


_INLINE = _InlineExecutor(max_workers=1)


class ProgramError(Exception):
    """The program raised while running under the mock engine."""


def _entrypoint() -> str:
    # The program itself always comes from this checkout; only the stack files may live elsewhere.
    return str(Path(__file__).resolve().parent.parent / "infra")


_TUNED = False


def _tune_runtime() -> None:
    """Make the mock engine cheap per resource. Offline only; nothing here changes what the program registers.

    - The SDK captures a Python stack trace for every registration (source positions for the
      CLI's diagnostics); under mocks nobody reads it, and it costs ~0.7 ms per resource.
    - The SDK allocates dozens of tasks and Outputs per resource; with the default thresholds the
      cyclic GC runs constantly over the large, long-lived import graph. Freezing the imported
      objects and raising the first threshold halves the time per resource.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    from pulumi.runtime import resource as _resource
    from pulumi.runtime.proto import source_pb2

    if hasattr(_resource, "_get_stack_trace"):
        _resource._get_stack_trace = source_pb2.StackTrace
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


_SDK_IMPORT = re.compile(r"^import (pulumi_\w+) as (\w+)\s*$", re.MULTILINE)


def preload() -> None:
    """Import what a run of the program imports, so workers forked afterwards share it copy-on-write.

    ``blueprint preview --all`` forks one worker per stack; without this each worker would import the
    providers' SDKs again (~1.2 s of class construction in ``pulumi_aws``/``pulumi_kubernetes``).
    The program's modules are found on disk (``infra/``, ``components/``), and the SDK submodules
    from the attribute paths their source names (``aws.ec2.Vpc`` -> ``pulumi_aws.ec2``), since the
    SDK packages load submodules lazily. Nothing is registered; a module missed here (or one that
    fails to import) only costs the worker the time to import it itself.
    """
    _tune_runtime()
    code = Path(_entrypoint()).parent
    modules: set[str] = set()
    for package in ("infra", "components"):
        for path in sorted((code / package).rglob("*.py")):
            rel = path.relative_to(code).with_suffix("")
            if rel.name != "__main__":
                modules.add(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
            text = path.read_text()
            for sdk, alias in _SDK_IMPORT.findall(text):
                # The alias, and module-level names bound to it (`_K8S: Any = k8s`).
                names = [alias, *re.findall(rf"^(\w+)(?::[^=\n]*)?\s*=\s*{alias}\s*$", text, re.MULTILINE)]
                for name in names:
                    for sub, subsub in re.findall(rf"\b{name}\.([a-z_]\w*)(?:\.([a-z_]\w*))?", text):
                        modules.update((f"{sdk}.{sub}", f"{sdk}.{sub}.{subsub}") if subsub else (f"{sdk}.{sub}",))
    for name in sorted(modules):
        try:
            if importlib.util.find_spec(name) is not None:
                # The SDKs register submodules as lazy modules; reading an attribute (not __file__) executes them.
                hasattr(importlib.import_module(name), "__all__")
        except Exception:  # noqa: BLE001, S112 - a warm-up only; the worker reports real import errors
            continue
    gc.freeze()  # long-lived: keep them out of collections (and their pages out of copy-on-write in workers)


def run_stack(stack: str, settings: StackSettings | None = None, *, preview: bool = True) -> Plan:
    """Run the program for one stack under mocks and return what it registered.

    Raises ConfigError for invalid config (nothing is registered then) and ProgramError for
    any other failure in the program.
    """
    from infra.config import PROJECT, decode_flat

    _tune_runtime()
    settings = settings or load_stack(stack)
    raw, _ = decode_flat(settings.config)
    entry = _entrypoint()

    def program() -> None:
        runpy.run_path(entry, run_name="__main__")

    return run_program(
        program,
        stack=stack,
        project=settings.project or PROJECT,
        region=str(raw.get("region") or "us-east-1"),
        account=str(raw.get("accountId") or "000000000000"),
        config=settings.config,
        secret_keys=settings.secret_keys,
        preview=preview,
    )


def run_program(
    program: Callable[[], None],
    *,
    stack: str = "unit",
    project: str = "ai-platform",
    region: str = "us-west-2",
    account: str = "123456789012",
    config: Mapping[str, str] | None = None,
    secret_keys: Iterable[str] = (),
    preview: bool = True,
) -> Plan:
    """Run any Pulumi program function under the platform mocks and return what it registered.

    ``run_stack`` runs ``infra/`` with it; component tests run a function that builds one
    component with hand-made inputs (e.g. a node role and IRSA provider the stacks may not wire).
    """
    # KUBECONFIG and PULUMI_K8S_* become default inputs of k8s.Provider (pulumi_kubernetes/provider.py).
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k == "KUBECONFIG" or k.startswith("PULUMI_K8S_")}
    try:
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
        _settings.ROOT.set(None)
        mocks = PlatformMocks(region, account, stack)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        _settings.SETTINGS.rpc_manager.clear()
        _settings.SETTINGS.outputs.clear()

        from pulumi.runtime.stack import run_pulumi_func

        loop = _mocks._ensure_event_loop()
        loop.set_default_executor(_INLINE)
        _sync_await(run_pulumi_func(program))
        outputs = _stack_outputs()
    finally:
        os.environ.update(saved)
    return Plan(stack=stack, project=project, resources=monitor.records, outputs=outputs)


def _stack_outputs() -> dict[str, Any]:
    """The program's ``pulumi.export`` values, resolved; secret ones stay wrapped as secrets."""
    from blueprint.plan import SECRET_SIG, SECRET_SIG_KEY

    root = _settings.ROOT.get()
    out: dict[str, Any] = {}
    for key, value in (getattr(root, "outputs", None) or {}).items():
        o = pulumi.Output.from_input(value)
        resolved = _sync_await(o.future())
        out[key] = {SECRET_SIG_KEY: SECRET_SIG, "value": resolved} if _sync_await(o.is_secret()) else resolved
    return out
