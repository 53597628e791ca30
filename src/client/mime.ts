/**
 * True when a `Content-Type` value's essence is `text/event-stream`: the HTML standard opens
 * "HTTP 200 OK responses with a `Content-Type` header specifying the type text/event-stream,
 * ignoring any MIME type parameters". MIME types are ASCII case-insensitive, so
 * `Text/Event-Stream;charset=utf-8` qualifies; a missing header does not.
 *
 * @param contentType - the header value, or `null` when absent
 */
export function isEventStream(contentType: string | null): boolean {
  if (contentType === null) return false;
  const semicolon = contentType.indexOf(';');
  const essence = semicolon === -1 ? contentType : contentType.slice(0, semicolon);
  return essence.trim().toLowerCase() === 'text/event-stream';
}
