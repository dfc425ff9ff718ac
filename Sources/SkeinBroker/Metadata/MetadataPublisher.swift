import SkeinCluster
import Synchronization

/// The broker's current view of the cluster: the newest metadata image and the metadata log
/// offset it reaches. The replica manager and the group coordinator get every image in log
/// order; request handlers read `image`.
final class MetadataPublisher: Sendable {
  private struct State {
    var image = MetadataImage()
    var offset: Int64 = 0
    /// False until the first image from the metadata log: an empty image must never reach the
    /// replica manager, which would take it to mean that every local log was deleted.
    var published = false
    var listeners: [@Sendable (MetadataImage) -> Void] = []
  }

  private let state = Mutex(State())
  /// Serializes publishing so listeners see images in order without holding `state`.
  private let publishing = Mutex(())

  var image: MetadataImage { state.withLock { $0.image } }
  /// The offset of the next metadata record: every record below it is in `image`.
  var offset: Int64 { state.withLock { $0.offset } }

  /// Adds a listener; it gets the current image at once if there is one yet.
  func addListener(_ listener: @escaping @Sendable (MetadataImage) -> Void) {
    publishing.withLock { _ in
      let image = state.withLock { s -> MetadataImage? in
        s.listeners.append(listener)
        return s.published ? s.image : nil
      }
      if let image { listener(image) }
    }
  }

  func publish(_ image: MetadataImage, offset: Int64) {
    publishing.withLock { _ in
      let listeners = state.withLock { s in
        s.image = image
        s.offset = offset
        s.published = true
        return s.listeners
      }
      for listener in listeners { listener(image) }
    }
  }
}
