// `npx cdk synth` / `npx cdk deploy` run this (cdk.json). Offline: no lookups,
// no account or region; the stack takes them from where it is deployed.
import { buildApp } from '../lib/app.ts';

buildApp().app.synth();
