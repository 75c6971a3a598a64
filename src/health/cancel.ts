/**
 * A cheaper way than `ctx.signal` for a built-in checker to hear that its probe was cancelled (its
 * deadline passed or the daemon is stopping). The runner's context creates its AbortController only
 * when a checker reads `ctx.signal`; a checker that registers a hook here instead costs no
 * controller, no signal and no listener per probe. Plugins keep using `ctx.signal`: this is not
 * part of the public contract, and with a context the runner did not make it falls back to the
 * signal, so a built-in checker behaves the same wherever it runs.
 */

/** Called at most once, synchronously, when the probe is cancelled; must tolerate a call after its attempt settled. */
export interface Cancellable {
  cancel(): void;
}

/** The runner's context answers to this key (src/health/runner.ts). */
export const ON_CANCEL: unique symbol = Symbol('vigil.onCancel');

interface CancelSource {
  [ON_CANCEL](hook: Cancellable): void;
}

/** Calls `hook.cancel()` when the probe behind `ctx` is cancelled; at once when it already is. */
export function onCancel(ctx: { readonly signal: AbortSignal }, hook: Cancellable): void {
  const own = (ctx as Partial<CancelSource>)[ON_CANCEL];
  if (typeof own === 'function') return own.call(ctx, hook);
  const { signal } = ctx;
  if (signal.aborted) return hook.cancel();
  signal.addEventListener('abort', () => hook.cancel(), { once: true });
}
