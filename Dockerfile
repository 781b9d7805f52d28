# The emulator image used by docker-compose.yml (the native launcher does not need it).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY . .
EXPOSE 8000
CMD ["python", "-m", "local.run", "--host", "0.0.0.0", "--port", "8000"]
