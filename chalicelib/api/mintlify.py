"""Mintlify's preview API (base path /v1): preview and update triggers, and their status."""

from __future__ import annotations

from chalice import Blueprint

mintlify = Blueprint(__name__)
