/**
 * The `Link` header an app sends so clients discover its hub (Mercure: "the URL of the hub MUST
 * be advertised … using a Link header with rel=mercure"), with the resource's own URL as
 * `rel="self"` (its canonical topic).
 *
 * @param hubUrl - the hub's URL, e.g. `https://hub.example.com/.well-known/mercure`
 * @param selfUrl - the resource's canonical URL, the topic to subscribe to
 * @returns a `Link` header value
 */
export function discoveryLinkHeader(hubUrl: string, selfUrl?: string): string {
  const link = (url: string, rel: string): string => {
    // A URL in a Link header is delimited by < >: they cannot appear inside it.
    if (/[<>\s]/.test(url)) throw new TypeError(`not a URL usable in a Link header: ${url}`);
    return `<${url}>; rel="${rel}"`;
  };
  const hub = link(hubUrl, 'mercure');
  return selfUrl === undefined ? hub : `${hub}, ${link(selfUrl, 'self')}`;
}
