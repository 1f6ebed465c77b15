/** RFC 4180 output: a field is quoted when it holds a quote, a comma, CR or LF; records end in CRLF. */
export function csvField(value: string | number | null): string {
  if (value === null) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvRecord = (values: (string | number | null)[]): string => values.map(csvField).join(",") + "\r\n";

/** A response body that encodes one chunk per pull, so a large export never sits whole in memory as bytes. */
export function streamOf(chunks: Iterable<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = chunks[Symbol.iterator]();
  return new ReadableStream({
    pull(controller) {
      const next = iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
  });
}
