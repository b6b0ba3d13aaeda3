#!/usr/bin/env bash
# Print where the demo runs and how to sign in.
cd "$(dirname "$0")/.."
password="$(grep -E '^GATEHOUSE_DEMO_PASSWORD=' .env | cut -d= -f2-)"
cat <<TXT

  Gatehouse is starting (Ctrl-C stops every process).

  Staff admin      http://localhost:8000/admin/        admin@gatehouse.localhost
  Acme Corp        http://acme.localhost:8000/         owner@acme.localhost (also admin@, security@, dev@, viewer@)
  Globex           http://globex.localhost:8000/       owner@globex.localhost
  Initech          http://initech.localhost:8000/      owner@initech.localhost
  API docs         http://acme.localhost:8000/api/docs/
  Health           http://acme.localhost:8000/health   ready: /ready   metrics: http://localhost:8000/metrics

  Password for every demo user: ${password}

TXT
