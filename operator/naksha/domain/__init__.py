"""Pure logic per capability: decisions, parsing, scoring, cron maths; no API, no kopf."""
