"""Host label -> artifact prefix. The embedded site server and, on AWS, CloudFront read this mapping;
switching production or rolling back is one write to it, never a copy of files."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.infra.resources import ROUTES
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta


class Route(Model):
    Meta = table_meta(ROUTES.logical)

    host = UnicodeAttribute(hash_key=True)
    artifact_prefix = UnicodeAttribute()
    deployment_id = IntegerAttribute()
    project_id = IntegerAttribute()
    updated_at = TimestampAttribute(default_for_new=utc_now)


class RouteRepository:
    @staticmethod
    def find(host: str) -> Route | None:
        try:
            return Route.get(host, consistent_read=True)
        except DoesNotExist:
            return None
