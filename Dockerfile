# One image for every role (api, migrate, workers); the GPU worker is built with EXTRAS="[gpu]".
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/optaas
COPY pyproject.toml README.md ./
COPY app app
COPY schemas schemas
COPY workers workers
COPY migrations migrations
ARG EXTRAS=""
RUN pip install ".${EXTRAS}"
USER nobody
EXPOSE 8000
CMD ["optaas", "api", "--host", "0.0.0.0", "--port", "8000"]
