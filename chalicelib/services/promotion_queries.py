"""Reading promotions: one of a project's, or a page of them (of one environment when asked), newest first.

The project decides who may see its promotions: another organization's project, or a deleted one, answers 404 as
its deployments do."""

from __future__ import annotations

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.project import ProjectRepository
from chalicelib.models.project_reads import ProjectRead, read_together
from chalicelib.models.promotion import Promotion, PromotionRepository
from chalicelib.services import text
from chalicelib.services.deployments.queries import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from chalicelib.services.listing import Page

__all__ = ["DEFAULT_PER_PAGE", "check_environment", "get", "page"]

MAX_ENVIRONMENT_LENGTH = 255  # the longest environment name any dialect takes (GitHub's)


def check_environment(environment: str | None) -> str | None:
    """An environment filter names an environment, or nothing: one no project has is an empty listing, as GitHub
    answers it; an empty or overlong name, or one holding a control character, is a 400."""
    if environment is None:
        return None
    if not 1 <= len(environment) <= MAX_ENVIRONMENT_LENGTH:
        raise InvalidInput(
            f"environment must be 1 to {MAX_ENVIRONMENT_LENGTH} characters (production, preview/<branch>, ...)",
            field="environment",
        )
    found = text.control_character(environment)
    if found:
        raise InvalidInput(f"environment {text.CONTROL_CHARACTERS} ({found} found)", field="environment")
    return environment


def page(
    org_slug: str,
    project_id: int,
    environment: str | None,
    page: int,
    per_page: int,
    read: ProjectRead | None = None,
) -> Page[Promotion]:
    """Newest first; the project as `read` has it, when it does (read with the caller's key)."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    environment = check_environment(environment)
    read = read or read_together(project_id, None, None)
    project = ProjectRepository.owned(org_slug, project_id, read.project)
    found = PromotionRepository.page(project.id, environment, page, per_page)
    return Page(found.items, page, per_page, found.total)


def get(org_slug: str, project_id: int, promotion_id: int, read: ProjectRead | None = None) -> Promotion:
    """The project's promotion, read with the project (or as `read` has them)."""
    read = read or read_together(project_id, None, None, promotion_id)
    project = ProjectRepository.owned(org_slug, project_id, read.project)
    if read.promotion is None or read.promotion.project_id != project.id:
        raise NotFound(f"promotion {promotion_id} not found in project {project_id}")
    return read.promotion
