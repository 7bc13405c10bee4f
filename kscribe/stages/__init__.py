"""The pipeline's stages, one module and one public function each."""

from kscribe.stages.extract import extract
from kscribe.stages.ingest import IngestResult, JobRequest, ingest
from kscribe.stages.publish import publish
from kscribe.stages.transcribe import ChunkOutcome, transcribe

__all__ = ["ChunkOutcome", "IngestResult", "JobRequest", "extract", "ingest", "publish", "transcribe"]
