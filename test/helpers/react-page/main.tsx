// The page test/integration/react-chromium.test.ts builds with Vite (React's development build,
// so StrictMode runs every effect twice on mount): one component subscribed to the hub at
// /events with useSubscription (herald/react, from src), and controls the test drives through
// window.page.

import { Activity, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useSubscription } from '../../../src/react/index.js';

/** What the test reads and drives. */
export interface ReactPage {
  /** Runs of the component's mount effect (2 under StrictMode's double mount). */
  mounts: number;
  /** URLs the hook's fetch was called with: one per connection attempt. */
  fetches: string[];
  /** `n@id` of every event onEvent received, in order. */
  delivered: string[];
  /** Re-renders with unrelated state (and new inline options). */
  bump(): void;
  /** Subscribes to another topic. */
  setTopic(topic: string): void;
  /** Sets the hook's `resume` option. */
  setResume(resume: boolean): void;
  /** Hides the component in an `<Activity>` (its effects are cleaned up, its state kept). */
  setHidden(hidden: boolean): void;
  /** Unmounts the component. */
  unmount(): void;
}

declare global {
  interface Window {
    page: ReactPage;
  }
}

const page: ReactPage = {
  mounts: 0,
  fetches: [],
  delivered: [],
  bump: () => {},
  setTopic: () => {},
  setResume: () => {},
  setHidden: () => {},
  unmount: () => {},
};
window.page = page;

function Feed() {
  const [topic, setTopic] = useState('a');
  const [resume, setResume] = useState(false);
  const [renders, setRenders] = useState(0);
  useEffect(() => {
    page.mounts++;
    page.bump = () => setRenders((n) => n + 1);
    page.setTopic = setTopic;
    page.setResume = setResume;
  }, []);
  // Inline options, new objects and functions on every render: none of them may reconnect.
  const { status, events, lastEventId } = useSubscription<{ tick: { n: number } }>('/events', {
    topics: [topic],
    json: true,
    keep: 100,
    resume,
    minDelayMs: 10,
    maxDelayMs: 20,
    headers: { 'x-render': String(renders) },
    fetch: (url, init) => {
      page.fetches.push(url);
      return fetch(url, init);
    },
    onEvent: (event) => {
      page.delivered.push(`${event.data.n}@${event.lastEventId}`);
    },
  });
  return (
    <section
      id="feed"
      data-status={status}
      data-last={lastEventId}
      data-renders={renders}
      data-resume={String(resume)}
    >
      <ol>
        {events.map((event) => (
          <li key={event.lastEventId}>{event.data.n}</li>
        ))}
      </ol>
    </section>
  );
}

function App() {
  const [hidden, setHidden] = useState(false);
  useEffect(() => {
    page.setHidden = setHidden;
  }, []);
  return (
    <Activity mode={hidden ? 'hidden' : 'visible'}>
      <Feed />
    </Activity>
  );
}

const root = createRoot(document.getElementById('root')!);
root.render(
  <StrictMode>
    <App />
  </StrictMode>,
);
page.unmount = () => root.unmount();
