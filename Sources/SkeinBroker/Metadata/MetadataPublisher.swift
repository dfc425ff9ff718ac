import SkeinCluster
import Synchronization

/// The broker's current view of the cluster: the newest metadata image and the metadata log
/// offset it reaches. The replica manager and the group coordinator get every image in log
/// order; request handlers read `image`.
final class MetadataPublisher: Sendable {
  private struct State {
    var image = MetadataImage()
    var offset: Int64 = 0
    var listeners: [@Sendable (MetadataImage) -> Void] = []
  }

  private let state = Mutex(State())
  /// Serializes publishing so listeners see images in order without holding `state`.
  private let publishing = Mutex(())

  var image: MetadataImage { state.withLock { $0.image } }
  /// The offset of the next metadata record: every record below it is in `image`.
  var offset: Int64 { state.withLock { $0.offset } }

  /// Adds a listener; it gets the current image at once.
  func addListener(_ listener: @escaping @Sendable (MetadataImage) -> Void) {
    publishing.withLock { _ in
      let image = state.withLock { s in
        s.listeners.append(listener)
        return s.image
      }
      listener(image)
    }
  }

  func publish(_ image: MetadataImage, offset: Int64) {
    publishing.withLock { _ in
      let listeners = state.withLock { s in
        s.image = image
        s.offset = offset
        return s.listeners
      }
      for listener in listeners { listener(image) }
    }
  }
}
