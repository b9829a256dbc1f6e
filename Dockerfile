# One image for every naksha subcommand: the operator (default), insight workers, agent jobs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# git: Rollout rollbacks commit their revert to the GitOps repository.
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 naksha \
    && useradd --system --uid 10001 --gid naksha --home-dir /nonexistent --shell /usr/sbin/nologin naksha
COPY --from=build /install /usr/local
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8081 9090
ENTRYPOINT ["naksha"]
CMD ["operator"]
