/**
 * Listings share the one event loop with probes and beats. Two rules keep those first: at most
 * `concurrency` listings are being built at once (the rest wait their turn), and a listing is
 * serialized in chunks with a turn of the event loop between chunks, so timers (probes) and sockets
 * (beats) run between every chunk instead of after a whole page.
 */
import pLimit from 'p-limit';

export const CHUNK = 100;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface ListingGate {
  /** `{"<field>":[…items…],<tail>}` built chunk by chunk, once a slot is free. */
  json<T>(field: string, items: readonly T[], view: (item: T) => unknown, tail: Record<string, unknown>): Promise<string>;
}

export function createListingGate(concurrency: number): ListingGate {
  const limit = pLimit(concurrency);
  return {
    json: (field, items, view, tail) =>
      limit(async () => {
        const parts: string[] = [];
        for (let i = 0; i < items.length; i += CHUNK) {
          if (i > 0) await yieldToLoop();
          for (const item of items.slice(i, i + CHUNK)) parts.push(JSON.stringify(view(item)));
        }
        const rest = JSON.stringify(tail).slice(1, -1);
        return `{${JSON.stringify(field)}:[${parts.join(',')}]${rest ? `,${rest}` : ''}}`;
      }),
  };
}
