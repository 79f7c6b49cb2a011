/**
 * The results section: RESULT_EVENT_BUS, the EventBridge bus that gets one
 * "Object Scan Result" event per verdict (docs/result-events.md).
 */
import * as z from '../shared/zod.ts';
import { optionalText, type Parsed } from './variables.ts';

// An event bus name (the default bus is "default"), or its ARN.
const BUS_NAME = /^[A-Za-z0-9._\-/]{1,256}$/;
const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256}$/;

export const RESULT_VARIABLES = {
  RESULT_EVENT_BUS: optionalText.check(
    z.refine(
      (value) => value === undefined || BUS_NAME.test(value) || BUS_ARN.test(value),
      'must be an EventBridge event bus name (letters, digits and . _ - /) or its ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
    ),
  ),
};

/** RESULT_EVENT_BUS as PutEvents takes it (name or ARN); undefined: no result events. */
export function resultBus(v: Parsed<typeof RESULT_VARIABLES>): string | undefined {
  return v.RESULT_EVENT_BUS;
}
