"""kscribe: videos in a bucket in, transcripts with word timings out."""

from kscribe.settings import Settings
from kscribe.values import Chunk, ChunkTranscript, Job, JobStatus, ObjectNotice, Segment, Transcript, Word

__all__ = ["Chunk", "ChunkTranscript", "Job", "JobStatus", "ObjectNotice", "Segment", "Settings", "Transcript", "Word"]
__version__ = "0.1.0"
