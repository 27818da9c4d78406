"""Build small plans by hand (namespaces, policies, component declarations) for the analysis tests."""

from __future__ import annotations

from typing import Any

from blueprint.preview.plan import Plan, Resource
from components import _contracts


def resource(type_: str, name: str, inputs: dict[str, Any], *, custom: bool = True) -> Resource:
    return Resource(
        urn=f"urn:pulumi:t::p::{type_}::{name}",
        type=type_,
        name=name,
        parent="",
        custom=custom,
        provider="",
        inputs=inputs,
        dependencies=[],
        property_dependencies={},
        protect=False,
        retain_on_delete=False,
        ignore_changes=[],
    )


def namespace(name: str, **labels: str) -> Resource:
    return resource("kubernetes:core/v1:Namespace", f"ns-{name}", {"metadata": {"name": name, "labels": labels}})


def policy(ns: str, name: str, spec: dict[str, Any]) -> Resource:
    return resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        f"{ns}-{name}",
        {"metadata": {"name": name, "namespace": ns}, "spec": spec},
    )


def component(name: str, **declared: Any) -> Resource:
    return resource("platform:index:Test", name, _contracts.declare(**declared), custom=False)


def vpc(cidr: str = "10.0.0.0/16") -> Resource:
    return resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": cidr})


def plan(*resources: Resource) -> Plan:
    return Plan(stack="t", project="p", resources=list(resources), outputs={})
