FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY consumers consumers
COPY replay replay
COPY schemas schemas
COPY cli cli
COPY web web
COPY demo demo
RUN pip install --no-cache-dir .
ENTRYPOINT []
