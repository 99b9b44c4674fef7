"""Who answers for a thing: the question every audit, alert and developer asks.

``ownership_of`` takes whatever a person has at hand (a service name, a resource name, an
ARN, ``org/repo``, a topic name, a URL) and returns the accountable people.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.models import Person, Resource, ResourceStatus, Service, ServiceStatus
from registry.services import get_service, service_loader_options

__all__ = ["MATCHED_BY", "Ownership", "ownership_of"]

# How a thing was recognised, in the order they are tried.
MATCHED_BY = ("service", "resource name", "external id", "url")


@dataclass(frozen=True)
class Ownership:
    """The people accountable for a service (handles), and how the thing asked about matched.

    ``matched`` is one of ``MATCHED_BY``; ``resource`` is the matched resource's policy
    name, None when the thing was the service itself, and ``resource_status`` and
    ``resource_error`` say how far its making got (a crashed or failed run leaves it
    ``failed`` with the error; a run at work, ``provisioning``).
    """

    service: str
    owner: str
    team: str
    team_lead: str | None
    change_approver: str | None
    oncall: str | None
    cost_watcher: str | None
    status: ServiceStatus
    matched: str
    resource: str | None = None
    resource_status: ResourceStatus | None = None
    resource_error: str | None = None


def ownership_of(session: Session, *, thing: str) -> Ownership | None:
    """Who answers for ``thing``, or None if the registry cannot tell.

    ``thing`` is tried as a service name, then a resource name, then an external id (ARN,
    ``org/repo``, topic name), then a URL (``https://host/org/repo``, with or without
    ``.git``; also ``git@host:org/repo.git``) matched against resources' URLs and external
    ids. A resource no service claims (an orphan) has no owner: it is skipped, and None
    is returned if nothing else matches.
    """
    text = thing.strip()
    if not text:
        return None
    service = get_service(session, name=text)
    if service is not None:
        return _ownership(service, matched="service", resource=None)

    by_name = select(Resource).where(Resource.name == text)
    by_external_id = select(Resource).where(Resource.external_id == text)
    urls, external_ids = _url_forms(text)
    by_url = select(Resource).where(
        or_(Resource.url.in_(urls), Resource.external_id.in_(external_ids))
    )
    for matched, statement in (
        ("resource name", by_name),
        ("external id", by_external_id),
        ("url", by_url),
    ):
        # Oldest first, so the answer does not change when a look-alike is added later.
        for resource in session.scalars(
            statement.where(Resource.service_id.is_not(None)).order_by(Resource.id)
        ):
            owning = session.scalars(
                select(Service)
                .options(*service_loader_options())
                .where(Service.id == resource.service_id)
            ).one()
            return _ownership(owning, matched=matched, resource=resource)
    return None


def _url_forms(text: str) -> tuple[set[str], set[str]]:
    """The URLs and external ids a URL-ish ``text`` may be stored as.

    ``https://host/acme/hello.git/`` may be stored as the URL with or without ``.git``
    and trailing slash, and its repository as the external id ``acme/hello``.
    """
    bare = text.rstrip("/").removesuffix(".git")
    urls = {text, bare, f"{bare}.git", f"{bare}/"}
    if "://" in text:
        path = urlsplit(bare).path
    elif text.startswith("git@") and ":" in text:
        # scp-like git remote: git@github.com:acme/hello.git
        path = bare.split(":", 1)[1]
    else:
        path = bare
    path = path.strip("/")
    segments = [segment for segment in path.split("/") if segment]
    external_ids = {path, "/".join(segments[:2])} - {""}
    return urls, external_ids


def _ownership(service: Service, *, matched: str, resource: Resource | None) -> Ownership:
    def handle(person: Person | None) -> str | None:
        return person.handle if person is not None else None

    return Ownership(
        service=service.name,
        owner=service.owner.handle,
        team=service.team.slug,
        team_lead=handle(service.team.lead),
        change_approver=handle(service.change_approver),
        oncall=handle(service.oncall),
        cost_watcher=handle(service.cost_watcher),
        status=service.status,
        matched=matched,
        resource=None if resource is None else resource.name,
        resource_status=None if resource is None else resource.status,
        resource_error=None if resource is None else resource.error,
    )
