# qualgent: the API (`qualgent serve`) and device hosts (`qualgent worker`) in one image.
# No secrets here: QUALGENT_SECRET_KEY, database and S3 credentials come from the environment.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid so volumes mounted from the host can be given to it.
RUN groupadd --system --gid 10001 qualgent \
    && useradd --system --uid 10001 --gid qualgent --create-home --home-dir /home/qualgent \
       qualgent

WORKDIR /src
# pyproject.toml names README.md as the package's readme, so the build needs it.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /src

USER qualgent
WORKDIR /home/qualgent
ENV QUALGENT_DATA_DIR=/home/qualgent/data
EXPOSE 8000

# /livez answers without touching the database: a slow database does not restart replicas
# (/readyz is for the load balancer). No curl in the slim image: Python's urllib instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2).status == 200 else 1)"]

ENTRYPOINT ["qualgent"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
