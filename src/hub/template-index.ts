/**
 * URI templates indexed by their literal ends, so that a topic meets only the templates that
 * could match it.
 *
 * Every topic a template matches starts with the template's leading literal text and ends with
 * its trailing one (`https://example.com/books/{id}` → `https://example.com/books/`; `{+path}/comments`
 * → `/comments`). Templates with a leading literal live in a radix trie of those prefixes;
 * templates without one but with a trailing literal in a trie of reversed suffixes; the rest
 * (`{+path}`, `{a}x{b}`) in one list every topic meets. Finding the candidates for a topic walks
 * each trie along the topic once — a few steps, one per branching point — without allocating.
 *
 * @packageDocumentation
 */

import type { UriTemplate } from './uri-template.js';

/** A node of a radix trie: the text on the edge from its parent, its items, its children. */
class TrieNode<G> {
  /** Children by the first code unit of their label (in the walking direction). */
  children: Map<number, TrieNode<G>> | null = null;
  readonly items: G[] = [];
  constructor(
    /** The edge's text, in the walking direction (reversed for the suffix trie). */
    public label: string,
    public parent: TrieNode<G> | null,
  ) {}
}

/** Where an item sits: its trie and node (or `null`: the unanchored list), its index there. */
interface Position<G> {
  trie: AnchorTrie<G> | null;
  node: TrieNode<G> | null;
  index: number;
}

/** A radix trie of anchors (prefixes, or suffixes read backwards). */
class AnchorTrie<G> {
  readonly root = new TrieNode<G>('', null);
  /** Nodes besides the root. */
  nodes = 0;
  readonly #backwards: boolean;

  constructor(backwards: boolean) {
    this.#backwards = backwards;
  }

  /** The node for `anchor` (non-empty, in the walking direction), made if missing. */
  nodeFor(anchor: string): TrieNode<G> {
    let node = this.root;
    let i = 0;
    while (i < anchor.length) {
      const first = anchor.charCodeAt(i);
      const child = node.children?.get(first);
      if (child === undefined) {
        const leaf = new TrieNode<G>(anchor.slice(i), node);
        this.nodes++;
        node.children ??= new Map();
        node.children.set(first, leaf);
        return leaf;
      }
      const label = child.label;
      let j = 1;
      while (
        j < label.length &&
        i + j < anchor.length &&
        label.charCodeAt(j) === anchor.charCodeAt(i + j)
      ) {
        j++;
      }
      if (j < label.length) {
        // Split the edge: node → middle (label[0, j)) → child (label[j…]).
        const middle = new TrieNode<G>(label.slice(0, j), node);
        this.nodes++;
        node.children!.set(first, middle);
        child.label = label.slice(j);
        child.parent = middle;
        middle.children = new Map([[child.label.charCodeAt(0), child]]);
        node = middle;
      } else {
        node = child;
      }
      i += j;
    }
    return node;
  }

  /**
   * Drops `node` once it holds nothing, and merges a node left with one child and no items into
   * that child, so the trie never keeps more nodes than its anchors need.
   *
   * @param moved - called for each item whose node changed in a merge
   */
  prune(node: TrieNode<G>, moved: (item: G, node: TrieNode<G>) => void): void {
    let n: TrieNode<G> = node;
    while (n.parent !== null && n.items.length === 0 && (n.children?.size ?? 0) === 0) {
      const parent: TrieNode<G> = n.parent;
      parent.children!.delete(n.label.charCodeAt(0));
      if (parent.children!.size === 0) parent.children = null;
      this.nodes--;
      n = parent;
    }
    if (n.parent !== null && n.items.length === 0 && n.children?.size === 1) {
      // Merge the only child into n: n keeps its place under its parent.
      const child: TrieNode<G> = n.children.values().next().value!;
      this.nodes--;
      n.label += child.label;
      n.children = child.children;
      if (n.children !== null) for (const grandchild of n.children.values()) grandchild.parent = n;
      for (const item of child.items) {
        n.items.push(item);
        moved(item, n);
      }
    }
  }

  /**
   * Calls `visit` for each item whose anchor the topic starts with (or ends with, backwards),
   * until one returns `true`.
   *
   * @returns whether a visit returned `true`
   */
  walk<C>(topic: string, visit: (item: G, context: C) => boolean, context: C): boolean {
    const n = topic.length;
    const backwards = this.#backwards;
    let node = this.root;
    let pos = 0;
    for (;;) {
      const items = node.items;
      for (let k = 0; k < items.length; k++) if (visit(items[k]!, context)) return true;
      const children = node.children;
      if (children === null || pos >= n) return false;
      const child = children.get(topic.charCodeAt(backwards ? n - 1 - pos : pos));
      if (child === undefined) return false;
      const label = child.label;
      const length = label.length;
      if (pos + length > n) return false;
      if (backwards) {
        for (let k = 1; k < length; k++) {
          if (topic.charCodeAt(n - 1 - pos - k) !== label.charCodeAt(k)) return false;
        }
      } else if (!topic.startsWith(label, pos)) {
        return false;
      }
      pos += length;
      node = child;
    }
  }
}

/** Sizes of a {@link TemplateBuckets}. */
export interface TemplateBucketStats {
  /** Items anchored by a leading literal. */
  prefixed: number;
  /** Items anchored by a trailing literal only. */
  suffixed: number;
  /** Items with no literal end, which every topic meets. */
  unanchored: number;
  /** Nodes of the two tries (0 once every item is deleted). */
  nodes: number;
}

/**
 * Items (each with a URI template) indexed by the template's literal ends. An item is added once
 * and deleted once; {@link TemplateBuckets.forEachCandidate} visits the items whose template
 * could match a topic — a superset of those that do (the caller runs the template).
 *
 * @typeParam G - the item (any value usable as a `Map` key)
 */
export class TemplateBuckets<G> {
  readonly #prefixes = new AnchorTrie<G>(false);
  readonly #suffixes = new AnchorTrie<G>(true);
  readonly #unanchored: G[] = [];
  readonly #positions = new Map<G, Position<G>>();
  #prefixed = 0;
  #suffixed = 0;

  /** Items held. */
  get size(): number {
    return this.#positions.size;
  }

  /** How many items each bucket holds. */
  stats(): TemplateBucketStats {
    return {
      prefixed: this.#prefixed,
      suffixed: this.#suffixed,
      unanchored: this.#unanchored.length,
      nodes: this.#prefixes.nodes + this.#suffixes.nodes,
    };
  }

  /** Adds `item`, anchored by `template`'s literal ends. Adding an item twice is a no-op. */
  add(item: G, template: UriTemplate): void {
    if (this.#positions.has(item)) return;
    let trie: AnchorTrie<G> | null = null;
    let node: TrieNode<G> | null = null;
    if (template.prefix !== '') {
      trie = this.#prefixes;
      node = trie.nodeFor(template.prefix);
      this.#prefixed++;
    } else if (template.suffix !== '') {
      trie = this.#suffixes;
      node = trie.nodeFor(reverse(template.suffix));
      this.#suffixed++;
    }
    const list = node === null ? this.#unanchored : node.items;
    this.#positions.set(item, { trie, node, index: list.length });
    list.push(item);
  }

  /** Whether `item` is held, anchored or not (for tests). */
  isUnanchored(item: G): boolean {
    return this.#positions.get(item)?.node === null;
  }

  /** Removes `item`; returns whether it was there. */
  delete(item: G): boolean {
    const position = this.#positions.get(item);
    if (position === undefined) return false;
    this.#positions.delete(item);
    const { trie, node, index } = position;
    const list = node === null ? this.#unanchored : node.items;
    const last = list.pop()!;
    if (last !== item) {
      list[index] = last;
      this.#positions.get(last)!.index = index;
    }
    if (trie !== null && node !== null) {
      if (trie === this.#prefixes) this.#prefixed--;
      else this.#suffixed--;
      trie.prune(node, this.#moved);
    }
    return true;
  }

  readonly #moved = (item: G, node: TrieNode<G>): void => {
    const position = this.#positions.get(item)!;
    position.node = node;
    position.index = node.items.length - 1;
  };

  /**
   * Calls `visit(item, context)` for each item whose template's literal ends fit `topic`, until
   * one returns `true`. Allocation-free.
   *
   * @returns whether a visit returned `true`
   */
  forEachCandidate<C>(topic: string, visit: (item: G, context: C) => boolean, context: C): boolean {
    if (this.#positions.size === 0) return false;
    if (this.#prefixed > 0 && this.#prefixes.walk(topic, visit, context)) return true;
    if (this.#suffixed > 0 && this.#suffixes.walk(topic, visit, context)) return true;
    const unanchored = this.#unanchored;
    for (let k = 0; k < unanchored.length; k++) if (visit(unanchored[k]!, context)) return true;
    return false;
  }
}

function reverse(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) out += s[i];
  return out;
}
