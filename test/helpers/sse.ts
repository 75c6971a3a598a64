/** A Server-Sent Events client for tests: fetch plus a frame parser, with a queue to await events on. */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: any;
}

export interface SseClient {
  readonly status: number;
  readonly events: SseEvent[];
  /** Resolves with the first received event (from the start) matching `pred` that is not yet taken. */
  next(pred?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export async function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const events: SseEvent[] = [];
  const taken = new Set<SseEvent>();
  let wake: (() => void) | undefined;
  const pump = async (): Promise<void> => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const field = (name: string) => [...frame.matchAll(/^(\w+): ?(.*)$/gm)].find((m) => m[1] === name)?.[2];
          const event = field('event');
          if (event === undefined) continue;
          const data = field('data');
          events.push({ id: field('id'), event, data: data === undefined ? undefined : JSON.parse(data) });
          wake?.();
        }
      }
    } catch {
      // aborted by close()
    }
  };
  if (res.ok) void pump();
  return {
    status: res.status,
    events,
    async next(pred = () => true, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find((e) => !taken.has(e) && pred(e));
        if (hit) {
          taken.add(hit);
          return hit;
        }
        const left = until - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(', ')}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => (clearTimeout(t), resolve());
        });
      }
    },
    close: () => ac.abort(),
  };
}
