# The adapter image. docker-compose.yml pairs it with HAPI FHIR (hapiproject/hapi).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapter adapter
COPY mappings mappings
COPY profiles profiles
RUN pip install --no-cache-dir '.[postgres]'
ENV SAMVERKAN_HOST=0.0.0.0 SAMVERKAN_PORT=8000
EXPOSE 8000
USER nobody
CMD ["samverkan", "serve"]
