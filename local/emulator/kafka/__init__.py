"""The Kafka event source mapping of the local emulator, split along its seams: ``config`` (the template's
properties), ``poller`` (the consumer, group membership and partition ownership), ``invoker`` (one batch
through the handler, its retries and commit), ``destination`` (the on-failure records and their producer).
The event builders live with the other AWS event shapes in ``local.emulator.events``; the mapping that
wires these together is ``local.emulator.kafka_esm.KafkaEventSourceMapping``.

Every module logs under ``local.emulator.kafka_esm``, the mapping's logger before the split, so that
logging configured for it keeps covering all of it.
"""
