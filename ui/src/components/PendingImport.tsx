import { fileName, mediaKind, plural } from '../lib/media';
import { CloseIcon, FileIcon, ImageIcon, InfoIcon, VideoIcon } from './icons';

interface Props {
  paths: readonly string[];
  onDismiss: () => void;
}

const KIND_LABEL = { image: 'Image', video: 'Video', other: 'Unsupported' } as const;

/**
 * The files chosen in the import dialog. Nothing is analysed yet: the notice says so plainly
 * rather than showing a made-up verdict.
 */
export function PendingImport({ paths, onDismiss }: Props) {
  return (
    <section class="notice" data-testid="pending-import" aria-live="polite">
      <div class="notice-head">
        <InfoIcon size={18} />
        <div class="notice-text">
          <strong>{plural(paths.length, 'file')} pending import</strong>
          <span>Not analysed — analysis arrives with the detection pipeline in a later build.</span>
        </div>
        <button class="icon-button" type="button" onClick={onDismiss} aria-label="Dismiss pending import">
          <CloseIcon size={16} />
        </button>
      </div>
      <ul class="pending-list">
        {paths.map((p) => {
          const kind = mediaKind(p);
          return (
            <li key={p} class={`pending pending-${kind}`}>
              {kind === 'image' ? <ImageIcon size={16} /> : kind === 'video' ? <VideoIcon size={16} /> : <FileIcon size={16} />}
              <span class="pending-name" title={p}>
                {fileName(p)}
              </span>
              <span class="pending-path">{p}</span>
              <span class={`tag tag-${kind}`}>{KIND_LABEL[kind]}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
