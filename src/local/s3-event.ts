// Moved to src/events/s3-event.ts (rescan builds the same documents); this
// re-export keeps imports written before the move working until they are updated.
export * from '../events/s3-event.ts';
