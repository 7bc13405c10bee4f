"""The pipeline's stages, one module and one public function each."""

from kscribe.pipeline.stages.chunk_audio import ChunkOutcome
from kscribe.pipeline.stages.extract import extract
from kscribe.pipeline.stages.ingest import IngestResult, JobRequest, ingest
from kscribe.pipeline.stages.publish import publish
from kscribe.pipeline.stages.transcribe import transcribe

__all__ = ["ChunkOutcome", "IngestResult", "JobRequest", "extract", "ingest", "publish", "transcribe"]
